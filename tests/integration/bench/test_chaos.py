"""The chaos suite's fastest scenario through the same harness as `make chaos` (bench/chaos),
small: the loader is killed -9 between an insert and its offset commit and restarted, while
the job reads the dirty input (poison, duplicates, late and too-late events, one port's clock
an hour ahead). The final ClickHouse state must equal the recomputation from the input, and
the counts must reconcile. The job runs on the session's Flink cluster, on a broker of its own."""

from __future__ import annotations

from bench.chaos.harness import Options, run_scenario
from bench.chaos.scenarios import SCENARIOS

SMALL = Options(events=600, send_s=10.0, loader_crash_after=3, wait_s=180.0)


def test_a_loader_kill_on_dirty_input_leaves_the_recomputed_state(flink_cluster):
    outcome = run_scenario(SCENARIOS["loader-kill"], SMALL, flink_cluster)

    assert outcome.error is None, (outcome.error, outcome.notes)
    assert outcome.mismatches == 0, outcome.notes
    assert outcome.events_in == outcome.clean + outcome.dead_letters + outcome.duplicates_dropped
    assert outcome.dead_letters > 0 and outcome.duplicates_dropped > 0 and outcome.too_late > 0
    assert outcome.windows_checked > 0
    assert outcome.recover_s is not None  # the restarted loader caught up

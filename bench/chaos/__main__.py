"""`make chaos`: the scenarios of `bench.chaos.scenarios`, each on services of its own, each
ending with the final ClickHouse state compared to a recomputation from its input. Prints the
table (or `--json`); exits 1 when a scenario has a mismatch or could not be checked."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from rich.console import Console
from rich.table import Table

from bench.chaos.harness import Options, Outcome, run_scenario
from bench.chaos.scenarios import SCENARIOS

COLUMNS = (
    "scenario",
    "events in",
    "clean",
    "dead letters",
    "duplicates dropped",
    "too late",
    "windows checked",
    "mismatches",
    "time to recover (s)",
)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        dest="scenarios",
        help="run this scenario (repeatable; default: all)",
    )
    parser.add_argument(
        "--events",
        type=int,
        help=f"simulated crossings per scenario (default {Options().events}, --fast {Options().fast().events})",
    )
    parser.add_argument("--seed", type=int, default=Options().seed)
    parser.add_argument("--fast", action="store_true", help="fewer events, shorter sends and outages")
    parser.add_argument("--keep", action="store_true", help="keep each run's folder (data and logs)")
    parser.add_argument("--json", action="store_true", help="print the outcomes as one JSON document")
    args = parser.parse_args()
    options = Options(seed=args.seed, keep=args.keep)
    options = options.fast() if args.fast else options
    if args.events:
        options = dataclasses.replace(options, events=args.events)

    console = Console(stderr=True)
    outcomes = []
    for name in args.scenarios or list(SCENARIOS):
        console.print(f"[bold]{name}[/]: {SCENARIOS[name].fault}")
        outcome = run_scenario(SCENARIOS[name], options)
        console.print(f"  {'ok' if outcome.passed else 'FAILED'} in {outcome.elapsed_s:.0f} s")
        if outcome.error:
            console.print(f"  {outcome.error}", markup=False)
        for note in outcome.notes:
            console.print(f"  {note}", markup=False)
        outcomes.append(outcome)
    if args.json:
        print(json.dumps([dataclasses.asdict(outcome) for outcome in outcomes], indent=2))
    else:
        Console(width=max(Console().width, 150)).print(table(outcomes))
    return 0 if all(outcome.passed for outcome in outcomes) else 1


def table(outcomes: list[Outcome]) -> Table:
    result = Table(title="Chaos scenarios: final ClickHouse state against a recomputation from the input")
    for column in COLUMNS:
        result.add_column(column, justify="left" if column == "scenario" else "right")
    for o in outcomes:
        if o.error:
            result.add_row(o.scenario, str(o.events_in), *[""] * 5, f"error: {o.error.splitlines()[0]}", "")
            continue
        recover = "-" if o.recover_s is None else f"{o.recover_s:.1f}"
        result.add_row(
            o.scenario,
            str(o.events_in),
            str(o.clean),
            str(o.dead_letters),
            str(o.duplicates_dropped),
            str(o.too_late),
            str(o.windows_checked),
            str(o.mismatches),
            recover,
        )
    return result


if __name__ == "__main__":
    sys.exit(main())

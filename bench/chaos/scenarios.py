"""The chaos scenarios: each starts the loader its way, injects one fault while the input is
being sent, and says how its time to recover is measured.

Every scenario sends the dirty input of `bench.chaos.inputs`, so `dirty-input` (no process
fault) is the baseline the others are compared with.
"""

from __future__ import annotations

import json
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from bench.chaos.harness import CROSSINGS, Options, Outcome, Run, read_topics, wait_for
from bench.chaos.webhook import OutageWebhook
from connectors.kafka.topics import ALERTS, JOB_OUTPUTS, RAW_TOPICS


def crossings_load(run: Run, options: Options) -> None:
    run.start_loader()


def job_recovery(run: Run, fault_end: float | None) -> float | None:
    """Seconds from the fault's end until the job's committed counts advance again (after its
    restore, if it had to restore: a commit of the crashed attempt's last checkpoint may
    still land after the crash)."""
    if fault_end is None:
        return None
    advanced = run.counts.advanced_after(max(fault_end, run.restored_at or fault_end))
    return None if advanced is None else round(advanced - fault_end, 1)


def loader_recovery(run: Run, fault_end: float | None) -> float | None:
    """Seconds from the fault's end until the loader first reports it has caught up (lag 0)."""
    caught_up = run.loader.caught_up_after(fault_end) if fault_end is not None else None
    return None if caught_up is None else round(caught_up - fault_end, 1)


@dataclass(frozen=True)
class Scenario:
    name: str
    fault: str
    inject: Callable[[Run, Options, Outcome], float | None]  # returns when the fault ended
    recovery: Callable[[Run, float | None], float | None] = job_recovery
    start_loader: Callable[[Run, Options], None] = crossings_load
    own_cluster: bool = False  # the fault breaks the cluster: never a shared one
    job_env: Callable[[Options], dict[str, str]] = lambda options: {}  # settings of the job
    kafka: Callable[[Options], dict[str, object]] = lambda options: {}  # settings of the broker


def no_fault(run: Run, options: Options, outcome: Outcome) -> None:
    return None


def kill_taskmanager(run: Run, options: Options, outcome: Outcome) -> float:
    """kill -9 one TaskManager (and its Python workers) and start a new one in its place."""
    restored_before = run.checkpoints()["counts"]["restored"]
    run.cluster.kill_taskmanager(0)
    run.cluster.start_taskmanager()
    ended = time.monotonic()
    wait_for(
        lambda: run.checkpoints()["counts"]["restored"] > restored_before,
        "the job to restore from a checkpoint",
        options.wait_s,
    )
    run.restored_at = time.monotonic()
    restored = run.checkpoints()["latest"]["restored"]
    outcome.notes.append(f"restored from checkpoint {restored['id']}")
    return ended


def restart_cluster_from_checkpoint(run: Run, options: Options, outcome: Outcome) -> float:
    """Right after a checkpoint, kill -9 the JobManager and every TaskManager; leave the cluster
    down `cluster_down_s`, start it again and submit the job from that checkpoint, which commits
    the transactions the checkpoint pre-committed."""
    completed = run.checkpoints()["counts"]["completed"]
    wait_for(lambda: run.checkpoints()["counts"]["completed"] > completed, "a checkpoint", options.wait_s)
    run.cluster.kill()
    killed = time.monotonic()
    checkpoint = run.latest_checkpoint()
    time.sleep(options.cluster_down_s)
    run.cluster.start()
    run.submit(from_checkpoint=checkpoint)
    run.restored_at = time.monotonic()
    outcome.notes.append(
        f"cluster down {options.cluster_down_s:.0f} s, job restored from {checkpoint.name} "
        f"{run.restored_at - killed:.0f} s after the kill; transactions may last "
        f"{options.transaction_max_timeout_s} s"
    )
    return run.restored_at


def exactly_once(options: Options) -> dict[str, str]:
    return {"PIPELINE_DELIVERY_GUARANTEE": "exactly-once"}


def short_transactions(options: Options) -> dict[str, object]:
    return {"transaction_max_timeout_s": options.transaction_max_timeout_s}


ALERT_EPISODES = 6


def alert_messages(count: int) -> list[tuple[bytes, bytes]]:
    """`count` episodes raised and resolved, as the job writes them to the alerts topic."""
    messages = []
    for number in range(count):
        episode_id = str(uuid.UUID(int=number + 1, version=4))
        started, ended = f"2024-05-01T08:{number:02d}:00Z", f"2024-05-01T09:{number:02d}:00Z"
        for state, ended_at in (("raised", None), ("resolved", ended)):
            alert = {
                "episode_id": episode_id,
                "state": state,
                "severity": "warning",
                "port_code": "LUOHU",
                "kind": "traveller",
                "direction": "entry",
                "started_at": started,
                "ended_at": ended_at,
                "peak_p90_s": 2400.0,
                "threshold_s": 1800,
            }
            messages.append((episode_id.encode(), json.dumps(alert).encode()))
    return messages


def published_alert_keys(bootstrap: str) -> set[str]:
    """`<episode_id>:<state>` of every message in the alerts topic."""
    return {
        "{episode_id}:{state}".format(**json.loads(message.value()))
        for message in read_topics(bootstrap, [ALERTS.name])
    }


def webhook_outage(run: Run, options: Options, outcome: Outcome) -> float:
    """The dispatcher's webhook answers 503 for `webhook_down_s`, longer than the dispatcher's
    poll interval, while episodes are raised and resolved; then it answers again. Every alert
    in the topic must reach it exactly once."""
    webhook = run.stack.enter_context(OutageWebhook())
    dispatcher = run.start_process(
        [str(CROSSINGS), "alerts", "dispatch", "--stats-interval", "1"],
        "dispatcher.log",
        {
            "ALERTS_WEBHOOK_URLS": webhook.url,
            "ALERTS_GROUP_ID": f"chaos-{run.name}",
            "ALERTS_BACKOFF_MAX_MS": "2000",
            "ALERTS_DELIVERY_MAX_SECONDS": str(4 * options.webhook_down_s),
            "ALERTS_MAX_POLL_INTERVAL_S": str(options.dispatcher_max_poll_interval_s),
        },
    )
    producer = Producer({"bootstrap.servers": run.bootstrap})
    for key, value in alert_messages(ALERT_EPISODES):
        producer.produce(ALERTS.name, value, key)
    producer.flush(30)
    time.sleep(options.webhook_down_s)
    webhook.down = False
    ended = time.monotonic()
    keys = published_alert_keys(run.bootstrap)
    wait_for(
        lambda: webhook.delivered(keys), "every alert to reach the webhook", options.wait_s, dispatcher.check_alive
    )
    run.recovered_at = webhook.all_delivered_at
    time.sleep(3)  # a second copy would come now
    doubled = sorted(key for key, count in webhook.accepted.items() if count > 1)
    outcome.differences += [f"alert {key} delivered {webhook.accepted[key]} times" for key in doubled]
    outcome.differences += [f"alert {key} never published" for key in sorted(set(webhook.accepted) - keys)]
    outcome.notes.append(
        f"webhook down {options.webhook_down_s:.0f} s ({webhook.refused} POSTs refused), "
        f"{len(keys)} alerts delivered, {len(doubled)} twice; the dispatcher "
        f"{'left' if dispatcher.said('revoked') else 'stayed in'} its group "
        f"(poll interval {options.dispatcher_max_poll_interval_s} s)"
    )
    return ended


def webhook_recovery(run: Run, fault_end: float | None) -> float | None:
    """Seconds from the webhook answering again until every alert had reached it."""
    return None if run.recovered_at is None or fault_end is None else round(run.recovered_at - fault_end, 1)


def restart_broker(run: Run, options: Options, outcome: Outcome) -> float:
    """Stop the broker (SIGTERM: a controlled shutdown), leave it down, start it again on the
    same data folder and ports."""
    run.broker.stop()
    time.sleep(options.broker_down_s)
    run.broker.start()
    return time.monotonic()


def three_brokers(options: Options) -> dict[str, object]:
    return {"brokers": 3}


def partition_replicas(bootstrap: str) -> list[tuple[int, list[int], list[int]]]:
    """(leader, replicas, in-sync replicas) of every partition of the project's topics."""
    topics = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30).topics
    return [
        (partition.leader, partition.replicas, partition.isrs)
        for spec in [*RAW_TOPICS.values(), *JOB_OUTPUTS]
        for partition in topics[spec.name].partitions.values()
    ]


def kill_one_of_three_brokers(run: Run, options: Options, outcome: Outcome) -> float:
    """kill -9 the broker that leads the most partitions of the project's topics (3 replicas,
    min.insync.replicas 2): producers, the job and the loader go on with the other two. Start it
    again on its data and ports after `broker_down_s`; it catches up and is in sync again. The
    fault, for the clients, ends when the other brokers take over: its time to recover counts
    from the kill."""
    leaders = [leader for leader, _, _ in partition_replicas(run.bootstrap)]
    victim = max(set(leaders), key=leaders.count)
    run.broker.kill(victim)
    killed, sent = time.monotonic(), run.sent[0]
    time.sleep(options.broker_down_s)
    restarted = time.monotonic()
    run.broker.start_node(victim)
    registered = time.monotonic()
    wait_for(
        lambda: all(len(isrs) == len(replicas) == 3 for _, replicas, isrs in partition_replicas(run.bootstrap)),
        f"broker {victim} to be in sync again",
        options.wait_s,
    )
    outcome.notes.append(
        f"broker {victim} (leader of {leaders.count(victim)} of {len(leaders)} partitions) killed "
        f"at {sent} records sent, started again {restarted - killed:.0f} s later, registered in "
        f"{registered - restarted:.0f} s, every replica in sync {time.monotonic() - registered:.0f} s "
        f"after that; time to recover: from the kill until the job's counts advance"
    )
    return killed


def faulty_loader(run: Run, *faults: str, extra_env: dict[str, str] | None = None) -> None:
    run.start_loader(
        [sys.executable, "-m", "bench.chaos.faulty_loader", *faults, "--stats-interval", "0.5"], extra_env=extra_env
    )


def crashing_loader(run: Run, options: Options) -> None:
    faulty_loader(run, "--crash-after-insert", str(options.loader_crash_after))


def restart_crashed_loader(run: Run, options: Options, outcome: Outcome) -> float:
    """Wait for the loader to SIGKILL itself right after an insert, before that batch's
    offset commit (`bench.chaos.faulty_loader`); start `crossings load` in its place."""
    wait_for(lambda: run.loader.returncode() is not None, "the loader's crash", options.wait_s)
    if run.loader.returncode() != -signal.SIGKILL:
        run.loader.check_alive()
    outcome.notes.append(f"loader killed after insert {options.loader_crash_after}, {run.sent[0]} records sent")
    run.start_loader()
    return time.monotonic()


def failing_loader(run: Run, options: Options) -> None:
    faulty_loader(run, "--fail-s", str(options.outage_s))


def failing_loader_with_short_poll_interval(run: Run, options: Options) -> None:
    faulty_loader(
        run,
        "--fail-s",
        str(options.outage_s),
        extra_env={"LOADER_MAX_POLL_INTERVAL_S": str(options.loader_max_poll_interval_s)},
    )


def fail_inserts_past_the_poll_interval(run: Run, options: Options, outcome: Outcome) -> float:
    """Every ClickHouse insert fails for `outage_s`, longer than the loader's poll interval:
    librdkafka puts it out of its group; it rejoins once an insert succeeds."""
    ended = fail_inserts(run, options, outcome)
    wait_for(
        lambda: run.loader.said("rebalanced") or run.loader.said("revoked"),
        "the loader to find itself out of its group",
        options.wait_s,
    )
    outcome.notes.append(
        f"inserts failed {options.outage_s:.0f} s, poll interval "
        f"{options.loader_max_poll_interval_s} s: the loader left its group and rejoined"
    )
    return ended


def fail_inserts(run: Run, options: Options, outcome: Outcome) -> float:
    """Every ClickHouse insert fails for `outage_s` (the loader retries with backoff)."""
    run.loader.signal(signal.SIGUSR1)
    time.sleep(options.outage_s)
    return time.monotonic()


SCENARIOS = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            "dirty-input",
            "none: 1% poison, 5% duplicates, 10% late <= 5 min, 0.1% too late, "
            "one port's clock 1 h ahead (every scenario sends this input)",
            no_fault,
        ),
        Scenario(
            "taskmanager-kill", "kill -9 a TaskManager mid-stream, start a new one", kill_taskmanager, own_cluster=True
        ),
        Scenario(
            "cluster-restart-after-checkpoint",
            "exactly once: kill -9 the JobManager and TaskManagers after a checkpoint, restart from it "
            "later than the job's old transaction timeout allowed (15 min of 1 h, scaled: 45 s of 180 s; down 60 s)",
            restart_cluster_from_checkpoint,
            own_cluster=True,
            job_env=exactly_once,
            kafka=short_transactions,
        ),
        Scenario(
            "webhook-long-outage",
            "the alerts' webhook answers 503 longer than the dispatcher's poll interval (40 s of 10 s, scaled "
            "from 15 min of 5 min) while episodes are raised and resolved",
            webhook_outage,
            webhook_recovery,
        ),
        Scenario(
            "broker-restart", "stop the Kafka broker mid-stream, start it again (same data, ports)", restart_broker
        ),
        Scenario(
            "broker-kill-of-three",
            "kill -9 one of three Kafka brokers (replicas 3, min.insync.replicas 2, "
            "acks=all) mid-stream, start it again",
            kill_one_of_three_brokers,
            kafka=three_brokers,
        ),
        Scenario(
            "loader-kill",
            "kill -9 the loader between an insert and its offset commit, restart it",
            restart_crashed_loader,
            loader_recovery,
            crashing_loader,
        ),
        Scenario(
            "clickhouse-outage",
            "every ClickHouse insert fails for a while mid-stream",
            fail_inserts,
            loader_recovery,
            failing_loader,
        ),
        Scenario(
            "clickhouse-long-outage",
            "every ClickHouse insert fails longer than the loader's poll interval "
            "(30 s of 10 s, scaled from 5 min): the loader is put out of its group",
            fail_inserts_past_the_poll_interval,
            loader_recovery,
            failing_loader_with_short_poll_interval,
        ),
    )
}

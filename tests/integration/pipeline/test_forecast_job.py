"""The forecast job on the real broker, the real Flink mini-cluster and chdb: simulated clean
crossings of Shenzhen Bay's morning surge and its peer Futian (travellers leaving), as the
crossings job writes them to crossings.clean, and a profile learnt from two normal mornings of
other seeds; one bounded run, its outputs landed by the loader. Every forecast row must equal
`forecast()` recomputed in Python from the same events, and the surge must raise an early
warning with the diversion advice the model gives. The broker is the module's own."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from confluent_kafka import Producer
from pydantic import SecretStr

from connectors.clickhouse import Warehouse
from connectors.clickhouse.loader import TARGETS, Loader
from connectors.clickhouse.migrations import migrate
from connectors.clickhouse.settings import ClickHouseSettings, LoaderSettings
from connectors.kafka.settings import KafkaSettings
from connectors.kafka.topics import ALERTS, CLEAN, FORECAST, FORECAST_JOB_OUTPUTS, ensure_topics
from connectors.sources.simulator import SimulatorSource
from deploy.services import KafkaBroker
from pipeline.runtime import FORECAST_JOB_SCRIPT, run_local
from pipeline.transforms.forecast import (
    MINUTES_PER_DAY,
    WARNING_HORIZON_MIN,
    MinuteAggregates,
    diversion_advice,
    forecast,
    profiles_from_json,
    profiles_to_json,
    warning_episodes,
)
from pipeline.transforms.forecast_stream import DAY_OFFSET_MIN, LAST_HORIZON_MIN, episode_id
from schemas.enums import Direction, Kind
from schemas.events import Crossing
from schemas.ports import SHENZHEN_TZ, load_ports
from schemas.privacy import Pseudonymiser

from .test_forecast_profile import learnt_in_python

PORTS = ("SHENZHEN_BAY", "FUTIAN")
KIND, DIRECTION = Kind.TRAVELLER, Direction.EXIT
DAY = date(2024, 3, 5)
START, HOURS = (6, 30), 3.75  # local: from Shenzhen Bay's opening to past the surge's warning
JOB_TIMEOUT_S = 600

Key = tuple[str, str, str]


def morning(day: date, seed: int, scenario: str) -> list[Crossing]:
    source = SimulatorSource(
        datetime.combine(day, datetime.min.time(), SHENZHEN_TZ).replace(hour=START[0], minute=START[1]),
        HOURS,
        seed=seed,
        scenario=scenario,
        pseudonymiser=Pseudonymiser(SecretStr("forecast-job-test-" + "0" * 32)),
        port_codes=PORTS,
        kinds=[KIND],
        directions=[DIRECTION],
    )
    return list(source.events())


def key_of(event: Crossing) -> Key:
    return event.port_code, str(event.kind), str(event.direction)


def epoch_minute(at: datetime) -> int:
    return int(at.timestamp() // 60)


def recompute(events: list[Crossing], profiles_json: str) -> dict[Key, dict[int, list]]:
    """Per key, `forecast()` at every minute up to the longest horizon after a minute with
    releases, on the crossings released before it (epoch minutes, as the job)."""
    profiles = profiles_from_json(profiles_json)
    result: dict[Key, dict[int, list]] = {}
    for key in {key_of(event) for event in events}:
        mine = sorted((e for e in events if key_of(e) == key), key=lambda e: e.released_at)
        released = [epoch_minute(e.released_at) for e in mine]
        issued = sorted({t for m in set(released) for t in range(m + 1, m + LAST_HORIZON_MIN + 1)})
        aggregates, i, result[key] = MinuteAggregates(), 0, {}
        for t in issued:
            while i < len(mine) and released[i] < t:
                event = mine[i]
                aggregates.add(
                    epoch_minute(event.queued_at),
                    released[i],
                    (event.released_at - event.queued_at).total_seconds(),
                    event.lane_id,
                )
                i += 1
            result[key][t] = forecast(aggregates, t, profiles[key], day_offset_min=DAY_OFFSET_MIN)
    return result


def produce_clean(bootstrap: str, events: list[Crossing]) -> None:
    """The clean topic as the crossings job writes it: the event's JSON keyed by its port."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20})
    for count, event in enumerate(events, 1):
        producer.produce(CLEAN.name, event.to_json(), event.port_code.encode())
        if count % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0, "records not acknowledged"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    with KafkaBroker(KafkaSettings(data_dir=tmp_path_factory.mktemp("forecast-kafka"))) as broker:
        ensure_topics(broker.bootstrap, [CLEAN, *FORECAST_JOB_OUTPUTS])
        yield broker


@pytest.fixture(scope="module")
def run(broker, warehouse: Warehouse, tmp_path_factory) -> tuple[list[Crossing], str]:
    """One bounded run of the job on the surge morning, its outputs loaded into chdb."""
    events = morning(DAY, seed=11, scenario="surge")
    past = (DAY - timedelta(days=2), DAY - timedelta(days=1))
    history = [event for seed, day in enumerate(past, 100) for event in morning(day, seed, "normal")]
    profiles = profiles_to_json(learnt_in_python(history, past))
    folder = tmp_path_factory.mktemp("forecast-job")
    (folder / "profiles.json").write_text(profiles)
    produce_clean(broker.bootstrap, events)
    run_local(
        FORECAST_JOB_SCRIPT,
        [
            "--bootstrap",
            broker.bootstrap,
            "--profile",
            str(folder / "profiles.json"),
            "--bounded",
            "--parallelism",
            "2",
        ],
        JOB_TIMEOUT_S,
        env={
            "PIPELINE_TRANSACTIONAL_ID_PREFIX": "test-forecast",
            "PIPELINE_CONSUMER_GROUP": "test-forecast",
            "PIPELINE_CHECKPOINT_DIR": str(folder / "checkpoints"),
            "PIPELINE_CHECKPOINT_INTERVAL_S": "2",
        },
    )
    migrate(warehouse, ClickHouseSettings())
    settings = LoaderSettings(group_id="test-forecast", batch_rows=5000, batch_wait_ms=200)
    targets = {topic: TARGETS[topic] for topic in (FORECAST.name, ALERTS.name)}
    Loader(broker.bootstrap, warehouse, settings, targets).run(once=True)
    return events, profiles


def landed_forecasts(warehouse: Warehouse) -> dict[tuple, dict]:
    rows = warehouse.query(
        "SELECT toUnixTimestamp(issued_at) AS issued, port_code, kind, direction, horizon_min, "
        "toUnixTimestamp(target_at) AS target, p90_s, usual_p90_s, queue, capacity_per_min, arrival_ratio "
        "FROM clearance_forecast FINAL WHERE port_code IN {ports:Array(String)} AND kind = {kind:String} "
        "AND toDate(issued_at) BETWEEN {day_from:Date} AND {day_to:Date}",
        {"ports": str(list(PORTS)), "kind": str(KIND), "day_from": str(DAY - timedelta(days=1)), "day_to": str(DAY)},
    ).dicts()
    return {
        (row["issued"] // 60, row["port_code"], row["kind"], row["direction"], row["horizon_min"]): row for row in rows
    }


def test_every_forecast_row_equals_the_model_recomputed_from_the_same_events(run, warehouse):
    events, profiles = run
    expected = recompute(events, profiles)
    landed = landed_forecasts(warehouse)
    want = {
        (t, *key, result.horizon_min): result
        for key, by_t in expected.items()
        for t, results in by_t.items()
        for result in results
    }
    assert len(want) > 2 * 3 * 200  # both ports, three horizons, every minute of the morning
    assert landed.keys() == want.keys()
    usual = {key: profile.usual_p90_s for key, profile in profiles_from_json(profiles).items()}
    for k, result in want.items():
        row = landed[k]
        t, *key, horizon = k
        assert row["target"] == (t + horizon) * 60
        assert math.isclose(row["p90_s"], result.p90_s, rel_tol=1e-9), (k, row, result)
        assert math.isclose(row["queue"], result.queue, rel_tol=1e-9, abs_tol=1e-9), k
        assert math.isclose(row["capacity_per_min"], result.capacity_per_min, rel_tol=1e-9), k
        assert math.isclose(row["arrival_ratio"], result.arrival_ratio, rel_tol=1e-9), k
        assert row["usual_p90_s"] == usual[tuple(key)][(t + horizon + DAY_OFFSET_MIN) % MINUTES_PER_DAY]


def test_the_surge_raises_an_early_warning_with_the_diversion_advice_of_the_model(run, warehouse):
    events, profiles = run
    expected = recompute(events, profiles)
    in_30 = {
        key[0]: {
            t: next(r.p90_s for r in results if r.horizon_min == WARNING_HORIZON_MIN) for t, results in by_t.items()
        }
        for key, by_t in expected.items()
    }
    surge = in_30["SHENZHEN_BAY"]
    threshold = load_ports().get("SHENZHEN_BAY").clearance_threshold_s[KIND]
    episodes = warning_episodes([surge[t] for t in sorted(surge)], threshold, min(surge))
    assert episodes, "the scenario raises no early warning: the test shows nothing"
    raised_at = episodes[0][0]

    alerts = warehouse.query(
        "SELECT toString(episode_id) AS episode_id, state, severity, toUnixTimestamp(started_at) AS started, "
        "peak_p90_s, threshold_s, advice_port_code, advice_forecast_s, advice_difference_min "
        "FROM alerts FINAL WHERE episode_type = 'forecast' AND port_code = 'SHENZHEN_BAY' "
        "AND toDate(started_at) = {day:Date} ORDER BY started_at, state",
        {"day": str(DAY)},
    ).dicts()
    raised = [alert for alert in alerts if alert["state"] == "raised"]
    assert [alert["started"] // 60 for alert in raised] == [start for start, _ in episodes]
    first = raised[0]
    assert first["episode_id"] == episode_id("SHENZHEN_BAY", str(KIND), str(DIRECTION), raised_at)
    assert (first["severity"], first["threshold_s"]) == ("early-warning", threshold)
    assert math.isclose(first["peak_p90_s"], surge[raised_at], rel_tol=1e-9)
    advice = diversion_advice("SHENZHEN_BAY", str(KIND), {port: in_30[port].get(raised_at) for port in in_30})
    assert advice is not None, "no peer forecasts less: the scenario shows no advice"
    assert first["advice_port_code"] == advice.port_code == "FUTIAN"
    assert math.isclose(first["advice_forecast_s"], advice.forecast_s, rel_tol=1e-9)
    assert first["advice_difference_min"] == advice.difference_min

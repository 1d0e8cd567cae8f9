"""Sources through the producer into the real broker: exact replay totals, keys, privacy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, time
from pathlib import Path

import orjson
from pydantic import SecretStr

from connectors.kafka.producer import CrossingProducer
from connectors.kafka.topics import RAW_TOPICS
from connectors.sources.replay import ReplaySource
from connectors.sources.simulator import SimulatorSource
from schemas.events import parse_crossing
from schemas.ports import SHENZHEN_TZ
from schemas.privacy import Pseudonymiser, normalise_identifier

from .kafka_reading import end_offsets, records_since

HK_CSV = (
    Path(__file__).resolve().parents[3].parent / "shared/data/hk-immd-daily-passenger-traffic-2021-01-01_2025-06-30.csv"
)
CROSSINGS = str(Path(sys.executable).parent / "crossings")
RAW = [spec.name for spec in RAW_TOPICS.values()]
KEY = SecretStr("c0c95ced7b4961de94cdc7d7762e5adba7b56f18fae5d6a596c2c3ecb74f9d6c")  # 32 bytes, hex


class RecordingPseudonymiser(Pseudonymiser):
    """Remembers every clear identifier it was given, so the test can look for them."""

    def __init__(self) -> None:
        super().__init__(KEY)
        self.seen: set[str] = set()

    def ref(self, namespace: str, identifier: str) -> str:
        self.seen.add(identifier)
        return super().ref(namespace, identifier)


def _crossings(bootstrap: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "PRIVACY_HMAC_KEY": KEY.get_secret_value()}
    return subprocess.run([CROSSINGS, *args], env=env, capture_output=True, text=True, timeout=600)


def test_replayed_week_equals_the_official_counts(kafka_broker):
    before = end_offsets(kafka_broker.bootstrap, RAW)
    result = _crossings(
        kafka_broker.bootstrap,
        "replay",
        str(HK_CSV),
        "--from",
        "2024-01-01",
        "--to",
        "2024-01-07",
        "--scale",
        "0.01",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)

    records = records_since(kafka_broker.bootstrap, before, RAW)
    counted = Counter()
    for record in records:
        event = parse_crossing(record.value)
        assert record.topic == "crossings.raw.traveller"
        assert record.key == event.port_code.encode()
        day = event.released_at.astimezone(SHENZHEN_TZ).date()
        counted[day, event.port_code, event.direction, event.category] += 1

    source = ReplaySource(HK_CSV, date(2024, 1, 1), date(2024, 1, 7), "0.01", pseudonymiser=Pseudonymiser(KEY))
    expected = {cell: n for cell, n in source.expected_counts().items() if n}
    assert counted == Counter(expected)
    assert summary["events"] == sum(expected.values()) == len(records)
    assert summary["topics"] == {"crossings.raw.traveller": len(records)}
    assert "Airport" in summary["skipped"] and summary["skipped"]["Airport"] > 0
    assert summary["rejected"] == []


def test_bad_rows_are_reported_and_the_rest_replays(kafka_broker, tmp_path):
    lines = HK_CSV.read_text(encoding="utf-8-sig").splitlines()
    good = [line for line in lines[1:] if line.startswith("01-01-2024,Lo Wu,")]
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text(
        "\n".join(
            [
                lines[0],
                good[0],
                "01-01-2024,Lo Wu,Arrival,1,2",  # line 3: too few fields
                "01-01-2024,Atlantis,Arrival,1,2,3,6,",  # line 4: unknown control point
                "01-01-2024,Lok Ma Chau,Arrival,100,10,1,999,",  # line 5: total does not add up
                good[1],
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    before = end_offsets(kafka_broker.bootstrap, RAW)
    result = _crossings(
        kafka_broker.bootstrap, "replay", str(bad_csv), "--from", "2024-01-01", "--to", "2024-01-01", "--json"
    )
    assert result.returncode == 1 and "rejected rows: 3 (listed in the summary)" in result.stderr, result.stderr
    summary = json.loads(result.stdout)
    assert [r["line"] for r in summary["rejected"]] == [3, 4, 5]
    reasons = " | ".join(r["reason"] for r in summary["rejected"])
    assert "Atlantis" in reasons and "Total" in reasons
    published = sum(int(x) for line in good[:2] for x in line.split(",")[3:6])
    assert summary["events"] == published
    assert len(records_since(kafka_broker.bootstrap, before, RAW)) == published


def test_no_clear_identifier_reaches_any_topic(kafka_broker):
    before = end_offsets(kafka_broker.bootstrap, RAW)
    pseudonymiser = RecordingPseudonymiser()
    start = datetime.combine(date(2024, 5, 1), time(6), SHENZHEN_TZ)
    sources = [
        SimulatorSource(start, 3, seed=7, scale=0.02, pseudonymiser=pseudonymiser),
        ReplaySource(HK_CSV, date(2024, 5, 1), date(2024, 5, 1), "0.01", pseudonymiser=pseudonymiser),
    ]
    with CrossingProducer(kafka_broker.bootstrap) as producer:
        for source in sources:
            producer.send_all(source.events())
    records = records_since(kafka_broker.bootstrap, before, RAW)

    kinds = Counter(orjson.loads(r.value)["kind"] for r in records)
    assert set(kinds) == {"traveller", "driver", "truck"}
    assert len(pseudonymiser.seen) > 1000
    # Whole tokens, not substrings: a short number may well occur inside some hex ref.
    tokens = set(re.findall(r"\w+", b"\n".join(r.value for r in records).decode()))
    clear_forms = {
        form
        for identifier in pseudonymiser.seen
        for form in (identifier, normalise_identifier(identifier), *re.findall(r"\w+", identifier))
        if len(form) >= 5
    }
    assert tokens & clear_forms == set()

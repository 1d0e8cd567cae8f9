"""The whole flow as a user runs it: a replay of the HK statistics into Kafka, the Flink job,
the loader into chdb, then the reconciliation query: every day, port and direction of the
replayed week holds exactly the crossings the statistics call for at that scale."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from connectors.kafka.settings import KafkaSettings
from connectors.kafka.topics import JOB_OUTPUTS, RAW_TOPICS, ensure_topics
from deploy.services import KafkaBroker
from pipeline.runtime import JOB_SCRIPT, run_local

ROOT = Path(__file__).resolve().parents[3]
CROSSINGS = str(Path(sys.executable).parent / "crossings")
STATISTICS = ROOT.parent / "shared" / "data" / "hk-immd-daily-passenger-traffic-2021-01-01_2025-06-30.csv"
WEEK = ("2024-01-01", "2024-01-07")
SCALE = "0.005"


def test_a_replayed_week_reconciles_with_the_official_statistics(tmp_path):
    # a broker of its own: the job reads the raw topics from their start
    with KafkaBroker(KafkaSettings(data_dir=tmp_path / "kafka")) as broker:
        reconcile(broker.bootstrap, tmp_path)


def reconcile(bootstrap: str, tmp_path: Path) -> None:
    ensure_topics(bootstrap, [*RAW_TOPICS.values(), *JOB_OUTPUTS])
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CLICKHOUSE_", "KAFKA_", "PIPELINE_", "LOADER_", "PRIVACY_"))
    }
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        CLICKHOUSE_DATA_PATH=str(tmp_path / "chdb"),
        PIPELINE_CHECKPOINT_DIR=str(tmp_path / "checkpoints"),
        PIPELINE_CONSUMER_GROUP="end-to-end",
        PIPELINE_TRANSACTIONAL_ID_PREFIX="end-to-end",
        LOADER_GROUP_ID="end-to-end",
        PRIVACY_HMAC_KEY=secrets.token_hex(32),
        COLUMNS="200",
    )

    def crossings(*args: str) -> str:
        result = subprocess.run([CROSSINGS, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"crossings {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    replayed = json.loads(
        crossings("replay", str(STATISTICS), "--from", WEEK[0], "--to", WEEK[1], "--scale", SCALE, "--json")
    )
    run_local(JOB_SCRIPT, ["--bootstrap", bootstrap, "--bounded", "--parallelism", "2"], timeout_s=600, env=env)
    crossings("load", "--once")
    crossings("load-statistics", str(STATISTICS), "--from", WEEK[0], "--to", WEEK[1])
    rows = json.loads(
        crossings(
            "sql",
            "-f",
            str(ROOT / "sql" / "queries" / "reconciliation.sql"),
            "--param",
            f"date_from={WEEK[0]}",
            "--param",
            f"date_to={WEEK[1]}",
            "--param",
            f"scale={SCALE}",
            "--format",
            "json",
        )
    )

    assert len(rows) == 7 * 14  # seven days, seven land ports with an HK counterpart, two directions
    assert [row for row in rows if row["difference"] != 0] == []
    assert sum(row["actual"] for row in rows) == replayed["events"] > 0

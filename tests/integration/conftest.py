"""Real services, started once per test session on free ports and always stopped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.clickhouse import Warehouse, open_warehouse
from connectors.clickhouse.settings import ClickHouseSettings
from connectors.kafka.settings import KafkaSettings
from deploy.services import FlinkCluster, KafkaBroker
from deploy.services.alertmanager import Alertmanager
from deploy.services.process import free_port
from deploy.services.prometheus import Prometheus
from deploy.services.settings import AlertmanagerSettings, FlinkSettings, PrometheusSettings
from schemas.privacy import PrivacySettings
from tests.integration.connectors.webhooks import Receiver


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    with KafkaBroker(KafkaSettings(data_dir=tmp_path_factory.mktemp("kafka"))) as broker:
        yield broker


@pytest.fixture(scope="session")
def flink_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlinkCluster]:
    with FlinkCluster(FlinkSettings(data_dir=tmp_path_factory.mktemp("flink")), PrivacySettings()) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """chdb on a data path of its own (one chdb session per process, so one per test run).
    The tests date their rows on fixed past days, and ClickHouse drops rows past their TTL
    even as they are inserted: dead letters are kept 100 years here, whoever migrates."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLICKHOUSE_DEAD_LETTERS_TTL_DAYS", "36500")
        with open_warehouse(ClickHouseSettings(data_path=tmp_path_factory.mktemp("chdb"))) as wh:
            yield wh


@pytest.fixture(scope="session")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    """The real Alertmanager, notifying the webhook `alertmanager.receiver` (every POST it
    accepts in `.requests`); groups wait 1 s and are flushed every second, and a firing group is
    notified again only after an hour: a second notification of a state is a defect."""
    with Receiver() as receiver:
        settings = AlertmanagerSettings(
            _env_file=None,
            data_dir=tmp_path_factory.mktemp("alertmanager"),
            webhook_urls=[receiver.url("/alertmanager")],
            group_wait_s=1,
            group_interval_s=1,
            repeat_interval_s=3600,
        )
        with Alertmanager(settings) as manager:
            manager.receiver = receiver
            yield manager


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory, flink_cluster: FlinkCluster) -> Iterator[Prometheus]:
    """The real Prometheus, scraping every second the session's Flink cluster (job `flink`) and a
    loader and a dispatcher on the free ports of `prometheus.metrics_ports` (jobs `loader` and
    `dispatcher`): a test runs them there."""
    ports = {"loader": free_port(), "dispatcher": free_port()}
    targets = {"flink": flink_cluster.metrics_targets, **{job: [f"127.0.0.1:{port}"] for job, port in ports.items()}}
    settings = PrometheusSettings(_env_file=None, data_dir=tmp_path_factory.mktemp("prometheus"), scrape_interval_s=1)
    with Prometheus(settings, targets) as server:
        server.metrics_ports = ports
        yield server

"""The local runner's Kafka config for one node and for a cluster of three (KRaft, each node a
broker and a controller), and the replication that the compose and Kubernetes manifests give
the same number of brokers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from connectors.kafka.settings import KafkaSettings, default_replication
from deploy.services import LocalStack
from deploy.services.errors import ServiceError
from deploy.services.kafka import KafkaBroker
from pipeline.cli import build_parser
from pipeline.commands import services

REPO = Path(__file__).resolve().parents[3]
# the broker settings that give topics, internal ones included, their replicas and min ISR
REPLICATION = re.compile(r"(replication\.factor|min\.isr|min\.insync\.replicas)$")


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def configs(tmp_path: Path, **settings: object) -> tuple[KafkaBroker, list[dict[str, str]]]:
    broker = KafkaBroker(KafkaSettings(_env_file=None, data_dir=tmp_path / "kafka", **settings))
    return broker, [properties(broker.config_text(node)) for node in broker.nodes]


def replication(config: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in config.items() if REPLICATION.search(key)}


def test_three_nodes_are_brokers_and_controllers_with_ports_and_log_dirs_of_their_own(tmp_path):
    broker, (*nodes,) = configs(tmp_path, brokers=3)
    assert len(nodes) == 3
    assert [node["node.id"] for node in nodes] == ["1", "2", "3"]
    assert {node["process.roles"] for node in nodes} == {"broker,controller"}
    voters = {node["controller.quorum.voters"] for node in nodes}
    assert voters == {",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in broker.nodes)}
    ports = [port for n in broker.nodes for port in (n.port, n.controller_port)]
    assert len(set(ports)) == 6
    for node, config in zip(broker.nodes, nodes):
        assert config["listeners"] == f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}"
        assert config["advertised.listeners"] == f"PLAINTEXT://127.0.0.1:{node.port}"
        assert config["log.dirs"] == str((tmp_path / "kafka" / f"broker-{node.node_id}" / "kraft").resolve())
    assert broker.bootstrap == ",".join(f"127.0.0.1:{n.port}" for n in broker.nodes)
    assert broker.heap == "384m"


def test_three_brokers_replicate_every_topic_three_times_with_two_in_sync(tmp_path):
    _, nodes = configs(tmp_path, brokers=3)
    for config in nodes:
        assert replication(config) == {
            "offsets.topic.replication.factor": "3",
            "transaction.state.log.replication.factor": "3",
            "transaction.state.log.min.isr": "2",
            "share.coordinator.state.topic.replication.factor": "3",
            "share.coordinator.state.topic.min.isr": "2",
            "min.insync.replicas": "2",
            "default.replication.factor": "3",
        }
        assert config.get("unclean.leader.election.enable", "false") == "false"  # a stale replica never leads


def test_one_broker_keeps_its_layout_and_one_replica(tmp_path):
    broker, (config,) = configs(tmp_path)
    node = broker.nodes[0]
    assert config["node.id"] == "1"
    assert config["controller.quorum.voters"] == f"1@127.0.0.1:{node.controller_port}"
    assert config["log.dirs"] == str((tmp_path / "kafka" / "kraft").resolve())
    assert set(replication(config).values()) == {"1"}
    assert broker.heap == "1g" and broker.bootstrap == f"127.0.0.1:{node.port}"


def test_set_ports_are_the_first_broker_s_and_the_others_take_the_next(tmp_path):
    broker, _ = configs(tmp_path, brokers=3, port=19092, controller_port=19192)
    assert [(n.port, n.controller_port) for n in broker.nodes] == [(19092, 19192), (19093, 19193), (19094, 19194)]
    with pytest.raises(ServiceError, match="overlap"):
        configs(tmp_path, brokers=3, port=19092, controller_port=19093)


def test_replication_follows_the_brokers_unless_set():
    assert [default_replication(brokers) for brokers in (1, 2, 3, 5)] == [(1, 1), (2, 1), (3, 2), (3, 2)]
    assert (KafkaSettings(_env_file=None, brokers=3).replicas, KafkaSettings(_env_file=None, brokers=3).min_isr) == (
        3,
        2,
    )
    chosen = KafkaSettings(_env_file=None, brokers=3, replication_factor=3, min_insync_replicas=3)
    assert (chosen.replicas, chosen.min_isr) == (3, 3)
    assert KafkaSettings(_env_file=None, brokers=5, replication_factor=5).min_isr == 4


def test_the_kubernetes_cluster_replicates_as_the_runner_does_for_its_brokers(tmp_path):
    documents = [d for path in (REPO / "deploy/k8s").glob("*.yaml") for d in yaml.safe_load_all(path.read_text()) if d]
    pools = [d for d in documents if d.get("kind") == "KafkaNodePool"]
    brokers = sum(pool["spec"]["replicas"] for pool in pools if "broker" in pool["spec"]["roles"])
    assert brokers == 3
    (kafka,) = [d for d in documents if d.get("kind") == "Kafka"]
    _, (runner, *_) = configs(tmp_path, brokers=brokers)
    assert {k: str(v) for k, v in replication(kafka["spec"]["kafka"]["config"]).items()} == replication(runner)
    replicas, min_isr = default_replication(brokers)
    topics = [d for d in documents if d.get("kind") == "KafkaTopic"]
    assert topics
    for topic in topics:
        assert topic["spec"]["replicas"] == replicas, topic["metadata"]["name"]
        assert topic["spec"]["config"]["min.insync.replicas"] == min_isr, topic["metadata"]["name"]


def test_the_compose_broker_replicates_as_the_runner_does_for_one_broker(tmp_path):
    compose = yaml.safe_load((REPO / "deploy/compose/compose.yaml").read_text())
    kafka_services = [s for s in compose["services"].values() if s.get("image", "").startswith("apache/kafka")]
    assert len(kafka_services) == 1
    environment = kafka_services[0]["environment"]
    _, (runner,) = configs(tmp_path, brokers=1)
    assert {
        key: str(environment.get("KAFKA_" + key.upper().replace(".", "_"))) for key in replication(runner)
    } == replication(runner)


def test_services_up_brokers_asks_the_stack_for_that_many(monkeypatch, tmp_path, capsys):
    asked = []
    monkeypatch.setattr(
        LocalStack,
        "up",
        lambda stack: (
            asked.append(stack.kafka_settings.brokers)
            or {
                "kafka": {"bootstrap": "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3", "running": True},
                "flink": {"rest": "http://127.0.0.1:4", "running": True},
                "alertmanager": {"url": "http://127.0.0.1:5", "running": True},
                "prometheus": {"url": "http://127.0.0.1:6", "running": True},
            }
        ),
    )
    parser = build_parser()
    assert services.up(parser.parse_args(["services", "up", "--brokers", "3"])) == 0
    assert services.up(parser.parse_args(["services", "up"])) == 0
    assert asked == [3, KafkaSettings().brokers]

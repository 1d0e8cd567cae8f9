"""A real Kafka cluster in KRaft mode, from the jars that `make setup` resolves: one node by
default, N (`KafkaSettings.brokers`) when asked, each node a broker and a controller at once."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from string import Template

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from connectors.kafka.settings import KafkaSettings
from deploy.services.errors import ServiceError
from deploy.services.process import free_port, pid_alive, port_open, spawn, stop_group, tail, wait_until

CONF_DIR = Path(__file__).resolve().parent.parent / "kafka"
MARKER = "-Dcrossings.service=kafka"


@dataclass
class KafkaNode:
    """One broker + controller of the cluster: its id, ports and folder."""

    node_id: int
    port: int
    controller_port: int
    folder: Path
    pid: int | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.folder / "server.properties"

    @property
    def log_file(self) -> Path:
        return self.folder / "log" / "broker.out"

    def running(self) -> bool:
        return self.pid is not None and pid_alive(self.pid)


class KafkaBroker:
    """Formats each node's data folder once (one cluster id for all), starts `kafka.Kafka` for
    each on 127.0.0.1 and waits until every broker is registered. One node keeps its data in
    `data_dir` itself; N nodes in `data_dir/broker-<id>`."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self.data_dir = self.settings.data_dir.resolve()
        count = self.settings.brokers
        self.nodes = [
            KafkaNode(
                node_id,
                self.settings.port + node_id - 1 if self.settings.port else free_port(),
                self.settings.controller_port + node_id - 1 if self.settings.controller_port else free_port(),
                self.data_dir if count == 1 else self.data_dir / f"broker-{node_id}",
            )
            for node_id in range(1, count + 1)
        ]
        ports = [port for node in self.nodes for port in (node.port, node.controller_port)]
        if len(set(ports)) < len(ports):
            raise ServiceError(
                f"{count} Kafka nodes take KAFKA_PORT and KAFKA_CONTROLLER_PORT and the {count - 1} "
                f"ports after each: they overlap ({ports}); leave them 0 for free ports"
            )

    @property
    def bootstrap(self) -> str:
        """Every broker's address, as clients take it (`bootstrap.servers`)."""
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def port(self) -> int:
        return self.nodes[0].port

    @property
    def pid(self) -> int | None:
        return self.nodes[0].pid

    @property
    def pids(self) -> list[int]:
        return [node.pid for node in self.nodes if node.pid is not None]

    @property
    def log_file(self) -> Path:
        return self.nodes[0].log_file

    @property
    def heap(self) -> str:
        return self.settings.heap if len(self.nodes) == 1 else self.settings.cluster_heap

    def start(self) -> KafkaBroker:
        java, classpath = _java(), self._classpath()
        try:
            for node in self.nodes:
                self._write_config(node)
            unformatted = [node for node in self.nodes if not (node.folder / "kraft" / "meta.properties").exists()]
            if unformatted:
                cluster_id = self._cluster_id() or base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
                for node in unformatted:
                    self._format(java, classpath, node, cluster_id)
            for node in self.nodes:
                self._spawn(java, classpath, node)
            self._wait(f"Kafka on {self.bootstrap}")
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self, node_id: int) -> None:
        """kill -9 one node (a crash: no controlled shutdown)."""
        node = self.node(node_id)
        if node.pid is not None:
            stop_group(node.pid, grace_s=0)
            node.pid = None

    def start_node(self, node_id: int) -> None:
        """Start one node again on its data and ports; returns once every broker is registered."""
        node = self.node(node_id)
        if node.running():
            return
        self._spawn(_java(), self._classpath(), node)
        self._wait(f"Kafka node {node_id} on {node.bootstrap} to rejoin")

    def node(self, node_id: int) -> KafkaNode:
        return next(node for node in self.nodes if node.node_id == node_id)

    def answers(self) -> bool:
        """True when every broker of the cluster serves metadata that has them all registered."""
        return all(self._node_answers(node) for node in self.nodes)

    def _node_answers(self, node: KafkaNode) -> bool:
        if not port_open(node.port):
            return False
        try:
            admin = KafkaAdminClient(bootstrap_servers=node.bootstrap, request_timeout_ms=3000)
        except KafkaError:
            return False
        try:
            return len(admin.describe_cluster()["brokers"]) == len(self.nodes)
        except KafkaError:
            return False
        finally:
            admin.close()

    def running(self) -> bool:
        return any(node.running() for node in self.nodes)

    def stop(self) -> None:
        for node in self.nodes:
            if node.pid is not None:
                stop_group(node.pid)
                node.pid = None

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, java: str, classpath: str, node: KafkaNode) -> None:
        node.pid = spawn(
            [
                java,
                f"-Xmx{self.heap}",
                "-Xms256m",
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                MARKER,
                f"-Dkafka.logs.dir={node.folder / 'log'}",
                f"-Dlog4j2.configurationFile={CONF_DIR / 'log4j2.yaml'}",
                "-cp",
                classpath,
                "kafka.Kafka",
                str(node.config_file),
            ],
            node.log_file,
        ).pid

    def _wait(self, what: str) -> None:
        # several JVMs start at once on few cores: each is given the whole timeout
        try:
            wait_until(
                self.answers,
                self.settings.start_timeout_s * len(self.nodes),
                what,
                lambda: all(node.running() for node in self.nodes if node.pid is not None),
                self.log_file,
            )
        except ServiceError as error:
            dead = next((node for node in self.nodes if node.pid is not None and not node.running()), None)
            if dead is None or dead is self.nodes[0]:
                raise
            raise ServiceError(
                f"{what}: node {dead.node_id} exited while starting; see {dead.log_file}:\n{tail(dead.log_file)}"
            ) from error

    def _classpath(self) -> str:
        jars = self.settings.jars_dir.resolve()
        if not any(jars.glob("kafka_2.13-*.jar")):
            raise ServiceError(f"no Kafka jars in {jars}: run `make setup` first")
        return f"{jars}/*"

    def config_text(self, node: KafkaNode) -> str:
        """The server.properties of `node`: the voters of every node, the replication of settings."""
        return Template((CONF_DIR / "server.properties").read_text()).substitute(
            node_id=node.node_id,
            voters=",".join(f"{other.node_id}@127.0.0.1:{other.controller_port}" for other in self.nodes),
            port=node.port,
            controller_port=node.controller_port,
            log_dirs=node.folder / "kraft",
            replication_factor=self.settings.replicas,
            min_insync_replicas=self.settings.min_isr,
            transaction_max_timeout_ms=self.settings.transaction_max_timeout_s * 1000,
        )

    def _write_config(self, node: KafkaNode) -> Path:
        node.config_file.parent.mkdir(parents=True, exist_ok=True)
        node.config_file.write_text(self.config_text(node))
        return node.config_file

    def _cluster_id(self) -> str | None:
        """The cluster id a node was formatted with, if any (a node whose folder was lost joins it)."""
        for node in self.nodes:
            meta = node.folder / "kraft" / "meta.properties"
            if meta.exists():
                for line in meta.read_text().splitlines():
                    if line.startswith("cluster.id="):
                        return line.split("=", 1)[1].strip()
        return None

    def _format(self, java: str, classpath: str, node: KafkaNode, cluster_id: str) -> None:
        result = subprocess.run(
            [
                java,
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={cluster_id}",
                "--config",
                str(node.config_file),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(f"formatting Kafka storage in {node.folder} failed:\n{result.stdout}{result.stderr}")


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise ServiceError("java not found: install a Java 17+ runtime (Debian: openjdk-17-jre-headless)")
    return java

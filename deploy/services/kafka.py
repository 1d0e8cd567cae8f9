"""A real single-node Kafka broker in KRaft mode, from the jars that `make setup` resolves."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from pathlib import Path
from string import Template

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from deploy.services.errors import ServiceError
from deploy.services.process import free_port, pid_alive, port_open, spawn, stop_group, wait_until
from pipeline.settings import KafkaSettings

CONF_DIR = Path(__file__).resolve().parent.parent / "kafka"
MARKER = "-Dcrossings.service=kafka"


class KafkaBroker:
    """Formats a data folder once, starts `kafka.Kafka` on 127.0.0.1 and waits until it answers."""

    def __init__(self, settings: KafkaSettings | None = None) -> None:
        self.settings = settings or KafkaSettings()
        self.data_dir = self.settings.data_dir.resolve()
        self.port = self.settings.port or free_port()
        self.controller_port = self.settings.controller_port or free_port()
        self.pid: int | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "log" / "broker.out"

    def start(self) -> KafkaBroker:
        java = _java()
        classpath = self._classpath()
        config = self._write_config()
        if not (self.data_dir / "kraft" / "meta.properties").exists():
            self._format(java, classpath, config)
        process = spawn(
            [
                java,
                f"-Xmx{self.settings.heap}",
                "-Xms256m",
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                MARKER,
                f"-Dkafka.logs.dir={self.data_dir / 'log'}",
                f"-Dlog4j2.configurationFile={CONF_DIR / 'log4j2.yaml'}",
                "-cp",
                classpath,
                "kafka.Kafka",
                str(config),
            ],
            self.log_file,
        )
        self.pid = process.pid
        try:
            wait_until(
                self.answers,
                self.settings.start_timeout_s,
                f"Kafka broker on {self.bootstrap}",
                lambda: process.poll() is None,
                self.log_file,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def answers(self) -> bool:
        """True when the broker serves metadata with one live broker."""
        if not port_open(self.port):
            return False
        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
        except KafkaError:
            return False
        try:
            return len(admin.describe_cluster()["brokers"]) == 1
        except KafkaError:
            return False
        finally:
            admin.close()

    def running(self) -> bool:
        return self.pid is not None and pid_alive(self.pid)

    def stop(self) -> None:
        if self.pid is not None:
            stop_group(self.pid)
            self.pid = None

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _classpath(self) -> str:
        jars = self.settings.jars_dir.resolve()
        if not any(jars.glob("kafka_2.13-*.jar")):
            raise ServiceError(f"no Kafka jars in {jars}: run `make setup` first")
        return f"{jars}/*"

    def _write_config(self) -> Path:
        text = Template((CONF_DIR / "server.properties").read_text()).substitute(
            port=self.port,
            controller_port=self.controller_port,
            log_dirs=self.data_dir / "kraft",
            transaction_max_timeout_ms=self.settings.transaction_max_timeout_s * 1000,
        )
        config = self.data_dir / "server.properties"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(text)
        return config

    def _format(self, java: str, classpath: str, config: Path) -> None:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        result = subprocess.run(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "format",
             f"--cluster-id={cluster_id}", "--config", str(config)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(f"formatting Kafka storage in {self.data_dir} failed:\n{result.stdout}{result.stderr}")


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise ServiceError("java not found: install a Java 17+ runtime (Debian: openjdk-17-jre-headless)")
    return java

"""`crossings services up|down|status`: the local Kafka broker, Flink cluster, Alertmanager and
Prometheus as one stack.

What `up` started is recorded in a state file; `down` stops those processes and only those
(a recorded pid is signalled only while its command line still carries the runner's marker).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from connectors.kafka.settings import KafkaSettings
from deploy.services import alertmanager, flink, kafka, prometheus
from deploy.services.alertmanager import Alertmanager
from deploy.services.errors import ServiceError
from deploy.services.flink import FlinkCluster
from deploy.services.kafka import KafkaBroker
from deploy.services.process import cmdline, pid_alive, port_open, release, stop_group
from deploy.services.prometheus import Prometheus
from deploy.services.settings import AlertmanagerSettings, FlinkSettings, PrometheusSettings
from schemas.privacy import PrivacySettings

STATE_FILE = Path("var/services.json")


@dataclass
class LocalStack:
    kafka_settings: KafkaSettings
    flink_settings: FlinkSettings
    privacy_settings: PrivacySettings
    state_file: Path = STATE_FILE
    alertmanager_settings: AlertmanagerSettings | None = None  # None: no Alertmanager
    prometheus_settings: PrometheusSettings | None = None  # None: no Prometheus
    # scrape job -> metrics port of what runs outside the stack (loader, dispatcher; 0: unknown)
    metrics_ports: dict[str, int] = field(default_factory=dict)

    def up(self) -> dict:
        """Start what is not running yet (or Kafka with another number of brokers); returns the status."""
        state = self._read_state()
        brokers = len(state.get("kafka", {}).get("pids", []))
        if (
            self._alive(state.get("kafka"), kafka.MARKER)
            and brokers == self.kafka_settings.brokers
            and self._alive(state.get("flink"), flink.MARKER)
            and (self.alertmanager_settings is None or self._alive(state.get("alertmanager"), alertmanager.MARKER))
            and (self.prometheus_settings is None or self._alive(state.get("prometheus"), prometheus.MARKER))
        ):
            return self.status()
        self.down()
        broker = KafkaBroker(self.kafka_settings).start()
        try:
            cluster = FlinkCluster(self.flink_settings, self.privacy_settings).start()
        except BaseException:
            broker.stop()
            raise
        state = {
            "kafka": {"bootstrap": broker.bootstrap, "pids": broker.pids, "log": str(broker.log_file)},
            "flink": {
                "rest": cluster.rest_url,
                "metrics": cluster.metrics_targets,
                "pids": cluster.pids,
                "log": str(cluster.log_dir),
            },
        }
        if self.alertmanager_settings is not None:
            try:
                manager = Alertmanager(self.alertmanager_settings).start()
            except BaseException:
                cluster.stop()
                broker.stop()
                raise
            state["alertmanager"] = {"url": manager.url, "pids": manager.pids, "log": str(manager.log_file)}
        if self.prometheus_settings is not None:
            targets = {"flink": cluster.metrics_targets}
            targets |= {job: [f"127.0.0.1:{port}"] for job, port in self.metrics_ports.items() if port}
            try:
                server = Prometheus(self.prometheus_settings, targets, state.get("alertmanager", {}).get("url")).start()
            except BaseException:
                for pid in state.get("alertmanager", {}).get("pids", []):
                    stop_group(pid)
                cluster.stop()
                broker.stop()
                raise
            state["prometheus"] = {"url": server.url, "pids": server.pids, "log": str(server.log_file)}
        self._write_state(state)
        release(*(pid for entry in state.values() for pid in entry["pids"]))  # `down` stops them
        return self.status()

    def down(self) -> list[str]:
        """Stop every process `up` recorded; returns what was stopped, for the message."""
        state = self._read_state()
        stopped = []
        for name, marker in (
            ("prometheus", prometheus.MARKER),
            ("alertmanager", alertmanager.MARKER),
            ("flink", flink.MARKER),
            ("kafka", kafka.MARKER),
        ):
            for pid in state.get(name, {}).get("pids", []):
                if pid_alive(pid) and marker in cmdline(pid):
                    stop_group(pid)
                    stopped.append(f"{name} (pid {pid})")
        self.state_file.unlink(missing_ok=True)
        return stopped

    def status(self) -> dict:
        state = self._read_state()
        return {
            "kafka": {
                "bootstrap": state.get("kafka", {}).get("bootstrap"),
                "running": self._alive(state.get("kafka"), kafka.MARKER)
                and port_open(int(state["kafka"]["bootstrap"].rsplit(":", 1)[1])),
            },
            "flink": {
                "rest": state.get("flink", {}).get("rest"),
                "metrics": state.get("flink", {}).get("metrics", []),
                "running": self._alive(state.get("flink"), flink.MARKER),
            },
            "alertmanager": {
                "url": state.get("alertmanager", {}).get("url"),
                "running": self._alive(state.get("alertmanager"), alertmanager.MARKER),
            },
            "prometheus": {
                "url": state.get("prometheus", {}).get("url"),
                "running": self._alive(state.get("prometheus"), prometheus.MARKER),
            },
        }

    def problems(self) -> list[str]:
        """Services recorded as started that are no longer running, with where to look."""
        state = self._read_state()
        return [
            f"{name} was started but is not running (crashed or killed); see {state[name]['log']}"
            for name, marker in (
                ("kafka", kafka.MARKER),
                ("flink", flink.MARKER),
                ("alertmanager", alertmanager.MARKER),
                ("prometheus", prometheus.MARKER),
            )
            if name in state and not self._alive(state[name], marker)
        ]

    @staticmethod
    def _alive(entry: dict | None, marker: str) -> bool:
        return bool(entry) and all(pid_alive(pid) and marker in cmdline(pid) for pid in entry["pids"])

    def _read_state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}
        except ValueError as error:
            raise ServiceError(
                f"{self.state_file} is not valid JSON ({error}); remove it and stop stray processes by hand"
            ) from error

    def _write_state(self, state: dict) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state, indent=2) + "\n")

"""A real Prometheus (Debian's `prometheus`) on a free port, with a config generated for our ports.

Scrape jobs as in deploy/prometheus/compose.yml: `flink` (the Prometheus reporter of the
JobManager and of each TaskManager), `loader` and `dispatcher` (their prometheus-client
exporters), each with static targets (`host:port`) given by whoever starts it: the Flink
cluster's ports, and the loader's and the dispatcher's settings (`LOADER_METRICS_PORT`,
`ALERTS_METRICS_PORT`; a port 0 there is a free one no config can know, so no target). Rules
from deploy/prometheus/rules/*.yml (none is fine); alerts to
an Alertmanager when one is given. Data (TSDB, config, log) under the settings' data dir. The
process runs in a group of its own (deploy/services/process.py), stopped by `stop` or by the
context manager's exit.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deploy.services.daemon import Daemon, duration
from deploy.services.errors import ServiceError
from deploy.services.process import free_port
from deploy.services.settings import PrometheusSettings

BINARY = "prometheus"
# in the command line of the process (its config file's name): what `services down` checks
MARKER = "crossings-prometheus.yml"
RULES_DIR = Path(__file__).resolve().parent.parent / "prometheus"
RULE_GLOBS = ("rules/*.yml",)
JOBS = ("flink", "loader", "dispatcher")


def config_text(
    settings: PrometheusSettings, targets: Mapping[str, Sequence[str]], alertmanager: str | None = None
) -> str:
    """The generated prometheus.yml (JSON, which is YAML): one scrape job per name of `targets`
    (`host:port` each), the rule files, and `alertmanager` (`host:port` or a URL) if any."""
    interval = duration(settings.scrape_interval_s)
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(RULES_DIR / pattern) for pattern in RULE_GLOBS],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": list(hosts)}]} for job, hosts in targets.items()
        ],
    }
    if alertmanager:
        parts = urllib.parse.urlsplit(alertmanager if "://" in alertmanager else f"http://{alertmanager}")
        config["alerting"] = {
            "alertmanagers": [{"scheme": parts.scheme, "static_configs": [{"targets": [parts.netloc]}]}]
        }
    return json.dumps(config, indent=2) + "\n"


class PrometheusError(ServiceError):
    """Prometheus's API did not answer a query."""


class Prometheus(Daemon):
    """Writes the config into its data dir, starts Prometheus and waits until it is ready.
    `targets`: scrape job name -> `host:port` of each target (JOBS, empty ones kept)."""

    name = "Prometheus"

    def __init__(
        self,
        settings: PrometheusSettings,
        targets: Mapping[str, Sequence[str]],
        alertmanager: str | None = None,
    ) -> None:
        self.settings = settings
        self.targets = {job: list(targets.get(job, ())) for job in (*JOBS, *targets)}
        self.alertmanager = alertmanager
        self.data_dir = settings.data_dir.resolve()
        super().__init__(settings.port or free_port(), self.data_dir / "prometheus.log")

    @property
    def config_file(self) -> Path:
        return self.data_dir / MARKER

    def start(self) -> Prometheus:
        binary = shutil.which(BINARY)
        if binary is None:
            raise ServiceError(f"{BINARY} not found: install Debian's prometheus (make setup)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(config_text(self.settings, self.targets, self.alertmanager))
        argv = [
            binary,
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.data_dir / 'data'}",
            f"--storage.tsdb.retention.time={self.settings.retention}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--web.external-url={self.url}",
        ]
        self.launch(argv, self.settings.start_timeout_s)
        return self

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The result of an instant query (`/api/v1/query`): [{metric: labels, value: [t, "v"]}]."""
        return query(self.url, expression)


def query(url: str, expression: str, timeout_s: float = 10) -> list[dict[str, Any]]:
    """An instant query to the Prometheus at `url`; PrometheusError when it does not answer."""
    address = f"{url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': expression})}"
    try:
        with urllib.request.urlopen(address, timeout=timeout_s) as response:
            answer = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise PrometheusError(f"Prometheus did not answer the query {expression!r}: {error}") from error
    if answer.get("status") != "success":
        raise PrometheusError(f"Prometheus refused the query {expression!r}: {answer.get('error')}")
    return answer["data"]["result"]

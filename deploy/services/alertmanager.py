"""A real Alertmanager (Debian's `prometheus-alertmanager`) on a free port, with a generated config.

The config routes every alert to one receiver: `webhook`, with the settings' webhook URLs
(`send_resolved`), or `none` (notifications dropped; alerts in the UI and API only) without
any. Grouping by alertname, port and kind and the group_wait / group_interval / repeat_interval
come from `AlertmanagerSettings` (short ones in the tests). Clustering is off (no gossip port).
The process runs in a group of its own (deploy/services/process.py), stopped by `stop`, by the
context manager's exit, or by `supervised()` on a signal.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from deploy.services.daemon import Daemon, duration
from deploy.services.errors import ServiceError
from deploy.services.process import free_port
from deploy.services.settings import AlertmanagerSettings

BINARY = "prometheus-alertmanager"
# in the command line of the process (its config file's name): what `services down` checks
MARKER = "crossings-alertmanager.yml"


def config_text(settings: AlertmanagerSettings) -> str:
    """The generated alertmanager.yml (JSON, which is YAML)."""
    receiver: dict[str, Any] = {"name": "none"}
    if settings.webhook_urls:
        receiver = {
            "name": "webhook",
            "webhook_configs": [{"url": url, "send_resolved": True} for url in settings.webhook_urls],
        }
    config = {
        "route": {
            "receiver": receiver["name"],
            "group_by": ["alertname", "port", "kind", "episode_type"],  # early warnings apart
            "group_wait": duration(settings.group_wait_s),
            "group_interval": duration(settings.group_interval_s),
            "repeat_interval": duration(settings.repeat_interval_s),
        },
        "receivers": [receiver],
    }
    return json.dumps(config, indent=2) + "\n"


class Alertmanager(Daemon):
    """Writes the config into its data dir, starts Alertmanager and waits until it is ready."""

    name = "Alertmanager"

    def __init__(self, settings: AlertmanagerSettings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir.resolve()
        super().__init__(settings.port or free_port(), self.data_dir / "alertmanager.log")

    @property
    def config_file(self) -> Path:
        return self.data_dir / MARKER

    def start(self) -> Alertmanager:
        binary = shutil.which(BINARY)
        if binary is None:
            raise ServiceError(f"{BINARY} not found: install Debian's prometheus-alertmanager (make setup)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(config_text(self.settings))
        os.chmod(self.config_file, 0o600)  # webhook URLs may carry a token
        argv = [
            binary,
            f"--config.file={self.config_file}",
            f"--storage.path={self.data_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",  # no gossip: one instance, no second port
            f"--web.external-url={self.url}",
        ]
        self.launch(argv, self.settings.start_timeout_s)
        return self

    def request(self, path: str, body: object = None, method: str | None = None) -> Any:
        """A call to its API (`path` like `/api/v2/alerts`): JSON in, JSON out."""
        data = None if body is None else json.dumps(body).encode()
        method = method or ("POST" if data else "GET")
        call = urllib.request.Request(f"{self.url}{path}", data, {"Content-Type": "application/json"}, method=method)
        with urllib.request.urlopen(call, timeout=10) as response:
            content = response.read()
        return json.loads(content) if content else None

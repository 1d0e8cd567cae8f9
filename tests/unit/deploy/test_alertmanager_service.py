"""The Alertmanager the runner starts (deploy/services/alertmanager.py), with the real binary:
its generated config passes amtool; a SIGTERM to the command that started it stops it; a start
that fails stops what it started and says where to look."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from deploy.services.alertmanager import Alertmanager, config_text
from deploy.services.errors import ServiceError
from deploy.services.process import StoppedBySignal, free_port, group_alive, port_open, supervised
from deploy.services.settings import AlertmanagerSettings


@pytest.mark.parametrize("urls", [[], ["http://127.0.0.1:9/hook?token=x", "https://ops.example/am"]])
def test_the_generated_config_passes_amtool(tmp_path, urls):
    settings = AlertmanagerSettings(_env_file=None, webhook_urls=urls, group_wait_s=0.5, repeat_interval_s=3600)
    config = tmp_path / "alertmanager.yml"
    config.write_text(config_text(settings))
    result = subprocess.run(["amtool", "check-config", str(config)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " - 1 receivers" in result.stdout
    generated = json.loads(config.read_text())
    [receiver] = generated["receivers"]
    assert [hook["url"] for hook in receiver.get("webhook_configs", [])] == urls
    assert generated["route"]["receiver"] == receiver["name"] and generated["route"]["group_wait"] == "500ms"


def test_a_sigterm_to_the_command_stops_its_alertmanager(tmp_path):
    with pytest.raises(StoppedBySignal, match="SIGTERM"), supervised():
        manager = Alertmanager(AlertmanagerSettings(_env_file=None, data_dir=tmp_path)).start()
        assert manager.ready()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert not group_alive(manager.pids[0])


def test_a_failed_start_stops_it_and_names_the_log(tmp_path):
    taken = free_port()
    settings = AlertmanagerSettings(_env_file=None, data_dir=tmp_path, port=taken, start_timeout_s=2)
    with subprocess.Popen([sys.executable, "-m", "http.server", str(taken), "--bind", "127.0.0.1"]) as squatter:
        try:
            deadline = time.monotonic() + 10
            while not port_open(taken) and time.monotonic() < deadline:
                time.sleep(0.05)
            manager = Alertmanager(settings)
            with pytest.raises(ServiceError, match="alertmanager.log"):
                manager.start()
            assert manager.pids == []
        finally:
            squatter.terminate()

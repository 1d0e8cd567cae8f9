"""The Prometheus config the local runner generates (deploy/services/prometheus.py): the scrape
jobs of deploy/prometheus/compose.yml with our targets, the rule files, the Alertmanager."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from deploy.services.prometheus import RULES_DIR, config_text
from deploy.services.settings import PrometheusSettings

COMPOSE = Path(__file__).resolve().parents[3] / "deploy" / "prometheus" / "compose.yml"


def test_the_scrape_jobs_are_those_of_compose_with_the_given_targets_and_interval():
    settings = PrometheusSettings(_env_file=None, scrape_interval_s=1.5)
    targets = {"flink": ["127.0.0.1:1", "127.0.0.1:2"], "loader": ["127.0.0.1:3"], "dispatcher": []}
    config = json.loads(config_text(settings, targets))
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs == targets
    compose_jobs = {job["job_name"] for job in yaml.safe_load(COMPOSE.read_text())["scrape_configs"]}
    assert set(jobs) <= compose_jobs
    assert config["global"] == {"scrape_interval": "1500ms", "evaluation_interval": "1500ms"}
    assert config["rule_files"] == [str(RULES_DIR / "rules/*.yml")]
    assert "alerting" not in config


def test_an_alertmanager_url_or_address_is_its_alerting_target():
    settings = PrometheusSettings(_env_file=None)
    for given in ("http://127.0.0.1:9093", "127.0.0.1:9093"):
        alerting = json.loads(config_text(settings, {}, given))["alerting"]
        assert alerting == {"alertmanagers": [{"scheme": "http", "static_configs": [{"targets": ["127.0.0.1:9093"]}]}]}

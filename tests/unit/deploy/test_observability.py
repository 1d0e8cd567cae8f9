"""Prometheus, Alertmanager and Grafana's ClickHouse plugin in deploy/compose/ and deploy/k8s/:
the plugin release the dashboards' query model follows is the one both install, the
configurations of deploy/prometheus/ pass promtool and amtool, and every exporter's port is
scraped where compose and Kubernetes expose it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from grafana.panels import PLUGIN_VERSION

REPO = Path(__file__).resolve().parents[3]
PROMETHEUS = REPO / "deploy" / "prometheus"
COMPOSE = yaml.safe_load((REPO / "deploy" / "compose" / "compose.yaml").read_text())
K8S = REPO / "deploy" / "k8s"
EXPORTERS = {"flink": 9249, "loader": 9464, "dispatcher": 9465}


def k8s_documents(name: str) -> list[dict]:
    return [document for document in yaml.safe_load_all((K8S / name).read_text()) if document]


def k8s_env(name: str, container: str) -> dict[str, str]:
    [deployment] = [d for d in k8s_documents(name) if d["kind"] == "Deployment"]
    [found] = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == container]
    return {item["name"]: item.get("value") for item in found.get("env", [])}


def test_compose_and_kubernetes_install_the_plugin_release_of_the_query_model():
    pinned = f"grafana-clickhouse-datasource {PLUGIN_VERSION}"
    assert COMPOSE["services"]["grafana"]["environment"]["GF_INSTALL_PLUGINS"] == pinned
    assert k8s_env("grafana.yaml", "grafana")["GF_INSTALL_PLUGINS"] == pinned


def test_grafana_reaches_prometheus_and_prometheus_alertmanager():
    assert COMPOSE["services"]["grafana"]["environment"]["GRAFANA_PROMETHEUS_URL"] == "http://prometheus:9090"
    assert k8s_env("grafana.yaml", "grafana")["GRAFANA_PROMETHEUS_URL"] == "http://prometheus:9090"
    services = {
        s["metadata"]["name"]: s
        for name in ("prometheus.yaml", "alertmanager.yaml")
        for s in k8s_documents(name)
        if s["kind"] == "Service"
    }
    assert services["prometheus"]["spec"]["ports"][0]["port"] == 9090
    assert services["alertmanager"]["spec"]["ports"][0]["port"] == 9093
    for name in ("compose.yml", "kubernetes.yml"):
        config = yaml.safe_load((PROMETHEUS / name).read_text())
        assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_compose_runs_prometheus_and_alertmanager_on_the_configuration_of_deploy_prometheus():
    prometheus, alertmanager = COMPOSE["services"]["prometheus"], COMPOSE["services"]["alertmanager"]
    assert "../prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/compose.yml" in prometheus["command"]
    assert any(v.startswith("../prometheus/alertmanager.yml:") for v in alertmanager["volumes"])
    assert all(re.fullmatch(r"prom/\w+:v[\d.]+", s["image"]) for s in (prometheus, alertmanager))
    flink = COMPOSE["x-flink-properties"]["FLINK_PROPERTIES"]
    assert f"metrics.reporter.prom.port: {EXPORTERS['flink']}" in flink and "PrometheusReporterFactory" in flink
    assert "metrics-prometheus" in (REPO / "deploy" / "compose" / "Dockerfile").read_text()


def scrape_ports(name: str) -> dict[str, tuple[list[str], int]]:
    config = yaml.safe_load((PROMETHEUS / name).read_text())
    return {
        job["job_name"]: (job["dns_sd_configs"][0]["names"], job["dns_sd_configs"][0]["port"])
        for job in config["scrape_configs"]
        if "dns_sd_configs" in job
    }


def test_every_exporter_is_scraped_by_the_names_compose_and_kubernetes_give_it():
    compose = scrape_ports("compose.yml")
    assert {job: port for job, (_, port) in compose.items()} == EXPORTERS
    # every Flink process of the stack: the JobManager and both TaskManager services
    flink_services = [
        name
        for name, service in COMPOSE["services"].items()
        if service.get("command") in (["jobmanager"], ["taskmanager"])
    ]
    assert compose["flink"][0] == flink_services and len(flink_services) == 3
    assert compose["loader"][0] == ["loader"]
    assert compose["dispatcher"][0] == ["alerts"] and set(compose) <= {"flink", "loader", "dispatcher"}
    services = {s["metadata"]["name"]: s for s in k8s_documents("metrics.yaml")}
    for job, (names, port) in scrape_ports("kubernetes.yml").items():
        assert port == EXPORTERS[job]
        [name] = names
        service = services[name.split(".")[0]]
        assert service["spec"]["clusterIP"] == "None" and service["spec"]["ports"][0]["port"] == port
    for name in ("flink.yaml", "forecast.yaml"):
        flink = next(d for d in k8s_documents(name) if d["kind"] == "FlinkDeployment")
        assert flink["spec"]["flinkConfiguration"]["metrics.reporter.prom.port"] == str(EXPORTERS["flink"])


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus) is not installed")
@pytest.mark.parametrize("name", ["compose.yml", "kubernetes.yml"])
def test_promtool_accepts_the_prometheus_configurations(name):
    result = subprocess.run(
        ["promtool", "check", "config", "--syntax-only", name],
        cwd=PROMETHEUS,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool (Debian's prometheus-alertmanager) is not installed")
def test_amtool_accepts_the_alertmanager_configuration():
    result = subprocess.run(
        ["amtool", "check-config", "alertmanager.yml"], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr

"""deploy/compose/: the compose file against the Compose Specification schema, every host path
it and its Dockerfile name, every variable it uses documented, the ClickHouse roles script, and
the submission of the crossings and forecast jobs after the profiles are learnt."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from connectors.kafka.settings import KafkaSettings
from pipeline.cli import build_parser
from pipeline.commands.forecast import learn
from pipeline.runtime import FORECAST_JOB_NAME, FORECAST_JOB_SCRIPT, JOB_NAME, JOB_SCRIPT
from pipeline.settings import ALL_SETTINGS

REPO = Path(__file__).resolve().parents[3]
COMPOSE_DIR = REPO / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
SCHEMA = COMPOSE_DIR / "schema" / "compose-spec.json"
ROOT_ENV_EXAMPLE = REPO / ".env.example"
STACK_ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
DOCKERFILES = sorted(COMPOSE_DIR.glob("Dockerfile*"))

# ${NAME}, ${NAME:-default}, ${NAME:?message}, ...; `$$` is a literal dollar for the container.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def env_example_names(path: Path) -> set[str]:
    return {
        line.split("=", 1)[0]
        for line in path.read_text().splitlines()
        if line and not line.startswith("#") and "=" in line
    }


def settings_variables() -> set[str]:
    """Every environment variable the settings classes read (prefix + field name)."""
    return {f"{cls.model_config['env_prefix']}{name}".upper() for cls in ALL_SETTINGS for name in cls.model_fields}


def test_compose_file_validates_against_the_compose_specification(compose):
    errors = sorted(Draft202012Validator(json.loads(SCHEMA.read_text())).iter_errors(compose), key=str)
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_vendored_schema_is_the_compose_specification():
    schema = json.loads(SCHEMA.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "compose_spec.json"
    Draft202012Validator.check_schema(schema)


def test_every_service_has_an_image_and_waits_only_on_services_it_can_wait_on(compose):
    services = compose["services"]
    for name, service in services.items():
        assert "image" in service, f"service {name} has no image"
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], (
                    f"{name} waits for {dependency} to be healthy, which has no healthcheck"
                )


def host_paths(compose: dict) -> list[tuple[str, Path]]:
    """(where, path) of every bind mount source, build context, Dockerfile and env_file."""
    paths = []
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith((".", "/")):
                paths.append((f"{name} volume", COMPOSE_DIR / source))
        if "build" in service:
            context = COMPOSE_DIR / service["build"]["context"]
            paths.append((f"{name} build context", context))
            paths.append((f"{name} Dockerfile", context / service["build"]["dockerfile"]))
        env_files = service.get("env_file", [])
        for env_file in [env_files] if isinstance(env_files, str) else env_files:
            paths.append(
                (f"{name} env_file", COMPOSE_DIR / (env_file if isinstance(env_file, str) else env_file["path"]))
            )
    return paths


def test_every_host_path_exists_in_the_repository(compose):
    paths = host_paths(compose)
    assert any(where.endswith("Dockerfile") for where, _ in paths)
    missing = [f"{where}: {path}" for where, path in paths if not path.exists()]
    assert not missing, missing
    for where, path in paths:
        assert REPO in path.resolve().parents or path.resolve() == REPO, f"{where} leaves the repository: {path}"


def test_grafana_mounts_what_its_provisioning_expects(compose):
    grafana = compose["services"]["grafana"]
    provider = yaml.safe_load((REPO / "grafana/provisioning/dashboards/crossings.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == "$GRAFANA_DASHBOARDS_PATH"
    mounts = dict(volume.split(":")[:2][::-1] for volume in grafana["volumes"])
    dashboards = mounts[grafana["environment"]["GRAFANA_DASHBOARDS_PATH"]]
    assert sorted((COMPOSE_DIR / dashboards).resolve().glob("*.json")), "no dashboard JSON in the mounted folder"
    assert (COMPOSE_DIR / mounts["/etc/grafana/provisioning"]).resolve() == REPO / "grafana" / "provisioning"
    # the $VARIABLES of the provisioning files are all set in Grafana's environment
    provisioning = [
        line
        for path in (REPO / "grafana/provisioning").rglob("*.yaml")
        for line in path.read_text().splitlines()
        if not line.lstrip().startswith("#")
    ]
    wanted = set(re.findall(r"\$([A-Z][A-Z0-9_]*)", "\n".join(provisioning)))
    assert wanted and wanted <= set(grafana["environment"]), wanted - set(grafana["environment"])


def test_every_variable_is_documented_in_exactly_one_env_example():
    """The pipeline's settings are documented in the repository's .env.example; the stack's own
    variables (passwords, ports, simulator) in deploy/compose/.env.example, and only there."""
    used = set(VARIABLE.findall(COMPOSE_FILE.read_text()))
    root, stack = env_example_names(ROOT_ENV_EXAMPLE), env_example_names(STACK_ENV_EXAMPLE)
    assert used, "no variable found in compose.yaml"
    undocumented = used - root - stack
    assert not undocumented, f"not in .env.example nor deploy/compose/.env.example: {sorted(undocumented)}"
    assert not root & stack, f"documented twice: {sorted(root & stack)}"
    assert used & root <= settings_variables(), "a root .env.example variable used here is no setting"
    assert not stack & settings_variables(), f"settings belong in .env.example: {sorted(stack & settings_variables())}"
    assert stack <= used, f"documented in deploy/compose/.env.example but unused: {sorted(stack - used)}"


def test_the_stack_env_example_names_the_required_settings():
    """Variables without a default (`${NAME:?...}`) that are settings of .env.example are named
    in deploy/compose/.env.example, so its reader knows to set them."""
    required = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*):\?", COMPOSE_FILE.read_text()))
    stack_text = STACK_ENV_EXAMPLE.read_text()
    assert required - env_example_names(STACK_ENV_EXAMPLE), "no required setting found"
    for name in required - env_example_names(STACK_ENV_EXAMPLE):
        assert name in env_example_names(ROOT_ENV_EXAMPLE), f"{name} is documented nowhere"
        assert re.search(rf"^#\s+{name}\s", stack_text, re.M), f"{name} is not named in deploy/compose/.env.example"


def test_secrets_are_never_written_in_the_compose_file(compose):
    secret_names = ("PASSWORD", "TOKEN", "HMAC_KEY")
    checked = 0
    for name, service in compose["services"].items():
        for key, value in service.get("environment", {}).items():
            if any(part in key for part in secret_names):
                assert isinstance(value, str) and VARIABLE.match(value), f"{name}: {key} is written in the compose file"
                checked += 1
    assert checked >= 6


def test_pipeline_services_read_settings_by_their_names(compose):
    settings = settings_variables()
    for name in ("migrate", "job", "forecast-learn", "forecast-job", "loader", "alerts", "simulator"):
        environment = compose["services"][name]["environment"]
        unknown = set(environment) - settings
        assert not unknown, f"{name} sets variables no setting reads: {sorted(unknown)}"


def copy_sources(dockerfile: Path) -> list[str]:
    """The build-context sources of every COPY/ADD (not those of `--from=` another stage)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    sources = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].upper() not in ("COPY", "ADD"):
            continue
        options = [word for word in words[1:] if word.startswith("--")]
        if any(option.startswith("--from=") for option in options):
            continue
        sources += [word for word in words[1:] if not word.startswith("--")][:-1]
    return sources


def test_every_copy_source_exists():
    dockerfiles = [path for path in DOCKERFILES if path.suffix != ".dockerignore"]
    assert dockerfiles
    for dockerfile in dockerfiles:
        sources = copy_sources(dockerfile)
        assert "pyproject.toml" in sources
        missing = [source for source in sources if not (REPO / source).exists()]
        assert not missing, f"{dockerfile.name}: COPY sources missing from the repository: {missing}"


def test_the_image_pins_the_pyflink_of_pyproject():
    pyproject = (REPO / "pyproject.toml").read_text()
    pinned = re.search(r'"apache-flink==(\d+)\.(\d+)\.\d+"', pyproject)
    dockerfile = (COMPOSE_DIR / "Dockerfile").read_text()
    assert f"ARG FLINK_IMAGE=flink:{pinned[1]}.{pinned[2]}-java17" in dockerfile
    assert "RUN uv pip install -r pyproject.toml" in dockerfile


def test_the_dockerignore_keeps_secrets_and_local_state_out():
    ignore = (COMPOSE_DIR / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[ignore.index("**")] == "**" and "!.env" not in ignore
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for source in copy_sources(COMPOSE_DIR / "Dockerfile"):
        assert source.rstrip("/").split("/")[0] in allowed, f"{source} is ignored by Dockerfile.dockerignore"


def run_roles_script(tmp_path: Path, writer: str, analyst: str) -> str:
    """Runs clickhouse/initdb/roles.sh with a stand-in `clickhouse-client` that records the SQL
    it is given; returns that SQL."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    received = tmp_path / "received.sql"
    client = bin_dir / "clickhouse-client"
    client.write_text(f"#!/bin/bash\ncat >> {received}\necho ';;' >> {received}\n")
    client.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "ROLES_DIR": str(REPO / "sql" / "roles"),
        "CROSSINGS_WRITER_PASSWORD": writer,
        "CROSSINGS_ANALYST_PASSWORD": analyst,
        "CLICKHOUSE_USER": "default",
        "CLICKHOUSE_PASSWORD": "admin",
    }
    subprocess.run(
        ["bash", str(COMPOSE_DIR / "clickhouse/initdb/roles.sh")],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return received.read_text()


def test_roles_script_applies_every_role_file_with_the_passwords_quoted(tmp_path):
    sql = run_roles_script(tmp_path, writer="it's & \\ ok", analyst="r3ader")
    statements = [part.strip() for part in sql.split(";;") if part.strip()]
    assert len(statements) == len(list((REPO / "sql" / "roles").glob("*.sql")))
    assert "BY 'it\\'s & \\\\ ok'" in sql
    assert "BY 'r3ader'" in sql
    assert "${" not in sql


def test_roles_script_refuses_a_missing_password(tmp_path):
    with pytest.raises(subprocess.CalledProcessError) as failure:
        run_roles_script(tmp_path, writer="", analyst="x")
    assert "CROSSINGS_WRITER_PASSWORD" in failure.value.stderr


def load_submit_job():
    spec = importlib.util.spec_from_file_location("submit_job", COMPOSE_DIR / "submit_job.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_submission_skips_a_job_that_already_runs():
    jobs = {
        "jobs": [
            {"jid": "a1", "name": "crossings", "state": "RUNNING"},
            {"jid": "b2", "name": "crossings", "state": "CANCELED"},
            {"jid": "c3", "name": "other", "state": "RUNNING"},
        ]
    }

    class Overview(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(jobs).encode() if self.path == "/jobs/overview" else b"{}"
            self.send_response(200 if self.path == "/jobs/overview" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Overview)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        module = load_submit_job()
        rest = f"http://127.0.0.1:{server.server_port}"
        assert module.running_jobs(rest, module.JOBS["crossings"].name) == ["a1"]
        assert module.running_jobs(rest, "absent") == []
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_broker_allows_the_transactions_the_local_runner_allows(compose):
    """The job's exactly-once sinks take the broker's longest transaction as theirs."""
    environment = compose["services"]["kafka"]["environment"]
    assert (
        environment["KAFKA_TRANSACTION_MAX_TIMEOUT_MS"]
        == KafkaSettings.model_fields["transaction_max_timeout_s"].default * 1000
    )


def submissions(monkeypatch, tmp_path, argv: list[str], running: dict[str, list[str]]) -> list[tuple]:
    """What `submit_job.main(argv)` submits, `running` the ids of the running jobs by name."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("FLINK_PARALLELISM", "3")
    monkeypatch.setenv("PIPELINE_FORECAST_PROFILE", str(tmp_path / "profiles.json"))
    (tmp_path / "profiles.json").write_text("{}")
    module = load_submit_job()
    submitted = []
    monkeypatch.setattr(module, "running_jobs", lambda rest_url, name: running.get(name, []))
    monkeypatch.setattr(module, "submit", lambda script, args, *rest, **options: submitted.append((script, args)))
    assert module.main([*argv, "--rest-url", "http://jobmanager:8081"]) == 0
    return submitted


def test_submission_takes_the_job_and_gives_the_forecast_job_its_profiles(monkeypatch, tmp_path):
    ((script, args),) = submissions(monkeypatch, tmp_path, ["--job", "forecast"], running={})
    assert script == FORECAST_JOB_SCRIPT
    assert args == ["--bootstrap", "kafka:9092", "--profile", str(tmp_path / "profiles.json"), "--parallelism", "3"]
    ((script, args),) = submissions(monkeypatch, tmp_path, ["--job", "crossings"], running={})
    assert script == JOB_SCRIPT
    assert args == ["--bootstrap", "kafka:9092", "--parallelism", "3"]


def test_submission_skips_the_job_while_one_of_its_name_runs(monkeypatch, tmp_path):
    assert submissions(monkeypatch, tmp_path, ["--job", "forecast"], running={FORECAST_JOB_NAME: ["a1"]}) == []
    assert submissions(monkeypatch, tmp_path, ["--job", "crossings"], running={JOB_NAME: ["a1"]}) == []
    # the other job runs: this one is submitted
    ((script, _),) = submissions(monkeypatch, tmp_path, ["--job", "forecast"], running={JOB_NAME: ["a1"]})
    assert script == FORECAST_JOB_SCRIPT


def test_the_submitting_services_name_their_job(compose):
    module = load_submit_job()
    services = compose["services"]
    for name, job in (("job", "crossings"), ("forecast-job", "forecast")):
        entrypoint, command = services[name]["entrypoint"], services[name]["command"]
        assert entrypoint == ["python", "/opt/crossings/deploy/compose/submit_job.py"]
        assert command[command.index("--job") + 1] == job and job in module.JOBS


def test_the_forecast_job_is_submitted_after_its_profiles_are_learnt(compose):
    services = compose["services"]
    learn_service, submitter = services["forecast-learn"], services["forecast-job"]
    assert learn_service["entrypoint"] == ["crossings"]
    assert build_parser().parse_args(learn_service["command"]).handler is learn
    assert learn_service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    # optional: a failed learn neither fails `docker compose up` nor stops the services after it
    assert submitter["depends_on"]["forecast-learn"] == {
        "condition": "service_completed_successfully",
        "required": False,
    }
    for dependency in ("kafka", "jobmanager", "taskmanager", "taskmanager-forecast"):
        assert submitter["depends_on"][dependency] == {"condition": "service_healthy"}
    # learn writes the file where the submitter's `flink run` reads it, on the same volume
    profile = learn_service["environment"]["PIPELINE_FORECAST_PROFILE"]
    assert submitter["environment"]["PIPELINE_FORECAST_PROFILE"] == profile
    mounts = [
        {volume for volume in service["volumes"] if profile.startswith(volume.split(":")[1] + "/")}
        for service in (learn_service, submitter)
    ]
    assert mounts[0] and mounts[0] == mounts[1]


def test_the_crossings_job_and_its_consumers_do_not_wait_for_the_forecast(compose):
    forecast = {"forecast-learn", "forecast-job", "taskmanager-forecast"}
    for name in ("job", "loader", "alerts"):
        assert not forecast & set(compose["services"][name]["depends_on"]), name


def test_the_forecast_job_gets_taskmanagers_of_its_own(compose):
    """Both jobs run at FLINK_PARALLELISM: a second set of TaskManagers, configured the same,
    gives the session cluster the slots of the forecast job."""
    services = compose["services"]
    assert services["taskmanager-forecast"] == services["taskmanager"]


def test_the_forecast_job_is_not_submitted_without_profiles(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("PIPELINE_FORECAST_PROFILE", str(tmp_path / "absent.json"))
    module = load_submit_job()
    submitted = []
    monkeypatch.setattr(module, "running_jobs", lambda rest_url, name: [])
    monkeypatch.setattr(module, "submit", lambda *args, **options: submitted.append(args))
    assert module.main(["--job", "forecast", "--rest-url", "http://jobmanager:8081"]) == 2
    assert submitted == []
    (line,) = capsys.readouterr().err.splitlines()
    assert str(tmp_path / "absent.json") in line and FORECAST_JOB_NAME in line

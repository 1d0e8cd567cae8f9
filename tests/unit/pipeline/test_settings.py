from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
import yaml
from pydantic import SecretStr, ValidationError

from connectors.clickhouse.settings import ClickHouseSettings
from connectors.kafka.settings import KafkaSettings
from pipeline.cli import main
from pipeline.settings import ALL_SETTINGS, settings_error_line, settings_table
from schemas.privacy import PrivacySettings

ROOT = Path(__file__).resolve().parents[3]
ENV_EXAMPLE = ROOT / ".env.example"
# 32 random bytes in hex, as `make setup` writes them; not a secret of any deployment
HMAC_KEY = "91df0a224e7c15a2819f29bb413eaf4fe9472c0f855c812669638df9460eb6d1"


def _variables(settings_class) -> set[str]:
    prefix = settings_class.model_config["env_prefix"]
    return {f"{prefix}{name}".upper() for name in settings_class.model_fields}


def test_env_example_lists_every_variable_and_no_other():
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))
    expected = set().union(*(_variables(cls) for cls in ALL_SETTINGS))
    assert listed == expected


def test_each_system_reads_its_own_prefix(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAFKA_PORT", "19092")
    monkeypatch.setenv("CLICKHOUSE_URL", "clickhouse://db:9000/crossings")
    monkeypatch.setenv("PORT", "1")
    assert KafkaSettings().port == 19092
    assert ClickHouseSettings().url == "clickhouse://db:9000/crossings"


def test_empty_values_mean_the_default(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLICKHOUSE_URL", "")
    assert ClickHouseSettings().url is None


def test_secrets_never_print(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PRIVACY_HMAC_KEY", HMAC_KEY)
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "db-password")
    privacy, clickhouse = PrivacySettings(), ClickHouseSettings()
    assert isinstance(privacy.hmac_key, SecretStr)
    assert privacy.hmac_key.get_secret_value() == HMAC_KEY
    assert HMAC_KEY not in repr(privacy) + str(privacy)
    assert "db-password" not in repr(clickhouse)


def _refusal(settings_class: type, **values: object) -> str:
    """The CLI's line for the error of `settings_class(**values)`, checked not to show a value."""
    with pytest.raises(ValidationError) as caught:
        settings_class(**values)
    shown = str(caught.value) + repr(caught.value)
    assert all(str(value) not in shown for value in values.values())
    return settings_error_line(caught.value)


def _shipped_hmac_keys() -> set[str]:
    """PRIVACY_HMAC_KEY as the examples and manifests of the repository give it."""
    keys = {yaml.safe_load((ROOT / "deploy/k8s/secret.example.yaml").read_text())["stringData"]["PRIVACY_HMAC_KEY"]}
    for path in (ENV_EXAMPLE, ROOT / "deploy/compose/.env.example", ROOT / "deploy/k8s/settings.env"):
        keys.update(re.findall(r"^PRIVACY_HMAC_KEY=(.*)$", path.read_text(), flags=re.MULTILINE))
    return keys


def test_an_hmac_key_shorter_than_32_bytes_is_refused_by_name():
    rule = "PRIVACY_HMAC_KEY: must be at least 32 bytes of random key (`make setup` writes one into .env)"
    assert _refusal(PrivacySettings, hmac_key=HMAC_KEY[:31]) == rule
    assert _refusal(PrivacySettings, hmac_key="é" * 15) == rule  # 30 bytes in UTF-8
    assert PrivacySettings(hmac_key="é" * 16).hmac_key.get_secret_value() == "é" * 16


def test_the_placeholders_of_the_examples_are_refused_at_any_length():
    shipped = _shipped_hmac_keys()
    assert shipped == {"", "CHANGE_ME"}, "a new placeholder: make PrivacySettings refuse it"
    for key in ("CHANGE_ME", "CHANGE_ME" * 4, "change-me " * 4, "ChangeMe" * 4):
        assert _refusal(PrivacySettings, hmac_key=key).startswith("PRIVACY_HMAC_KEY: is a placeholder, not a key")
    assert PrivacySettings(hmac_key="").hmac_key.get_secret_value() == ""  # unset: the Pseudonymiser refuses it


def test_the_key_that_make_setup_writes_is_accepted():
    command = re.search(r"\$\(\$\(PYTHON\) -c '([^']+)'\)", (ROOT / "Makefile").read_text())
    key = subprocess.run([sys.executable, "-c", command[1]], capture_output=True, text=True, check=True).stdout.strip()
    assert PrivacySettings(hmac_key=key).hmac_key.get_secret_value() == key


def test_generate_refuses_a_short_key_in_one_line_naming_it(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PRIVACY_HMAC_KEY", "CHANGE_ME")
    assert main(["generate", "--sim-hours", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crossings generate: PRIVACY_HMAC_KEY: is a placeholder") and err.count("\n") == 1


SECRET = "Zq8-s3cret-Vx7"
# A bad value of each setting that is or may carry a secret, with SECRET inside.
BAD_SECRET_VALUES = {
    "CLICKHOUSE_URL": f"tcp://crossings_writer:{SECRET}@db:9000/crossings",
    "CLICKHOUSE_PASSWORD": f"{SECRET}\n",
    "GRAFANA_URL": f"grafana.internal:3000/?auth_token={SECRET}",
    "GRAFANA_TOKEN": f"glsa_{SECRET}\r\n",
    "GRAFANA_ALERT_WEBHOOK_URL": f"https://hooks.example:{SECRET}/alerts",
    "GRAFANA_PROMETHEUS_URL": f"prometheus.internal:9090/?token={SECRET}",
    "CLICKHOUSE_ANALYST_PASSWORD": f"{SECRET}\x7f",
    "PRIVACY_HMAC_KEY": SECRET,
    "ALERTS_WEBHOOK_URLS": f"https://hooks.example/{SECRET},hooks.example/{SECRET}",
    "ALERTS_WEBHOOK_TOKEN": f"{SECRET}\t",
    "ALERTS_ALERTMANAGER_URL": f"alertmanager:9093/{SECRET}",
    "ALERTS_ALERTMANAGER_TOKEN": f"{SECRET}\n",
    "ALERTMANAGER_WEBHOOK_URLS": f"https://hooks.example/{SECRET},hooks.example/{SECRET}",
}


def _mentions(annotation: object, kind: type) -> bool:
    return annotation is kind or any(_mentions(arg, kind) for arg in get_args(annotation))


def test_a_bad_value_of_a_secret_setting_is_never_shown(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    secret_settings = {
        f"{cls.model_config['env_prefix']}{name.upper()}": cls
        for cls in ALL_SETTINGS
        for name, field in cls.model_fields.items()
        if _mentions(field.annotation, SecretStr) or "url" in name
    }
    assert set(secret_settings) == set(BAD_SECRET_VALUES)
    for variable, cls in secret_settings.items():
        with monkeypatch.context() as patch:
            patch.setenv(variable, BAD_SECRET_VALUES[variable])
            with pytest.raises(ValidationError) as caught:
                cls()
        line = settings_error_line(caught.value)
        assert line.startswith(f"{variable}: "), line
        for shown in (line, str(caught.value), repr(caught.value)):
            assert SECRET not in shown, (variable, shown)


def test_dotenv_file_is_read(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KAFKA_HEAP", raising=False)
    (tmp_path / ".env").write_text("KAFKA_HEAP=2g\n")
    assert KafkaSettings().heap == "2g"


def test_docs_list_every_setting_as_the_code_declares_it():
    document = (ENV_EXAMPLE.parent / "docs" / "settings.md").read_text()
    table = settings_table()
    assert table in document, (
        "docs/settings.md's table is stale: replace it with the output of `.venv/bin/python -m pipeline.settings`"
    )
    assert len(table.splitlines()) == 2 + sum(len(cls.model_fields) for cls in ALL_SETTINGS)


def test_kafka_replication_comes_from_the_brokers_and_a_factor_beyond_them_is_refused_by_name(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAFKA_BROKERS", "3")
    assert (KafkaSettings().replicas, KafkaSettings().min_isr) == (3, 2)
    monkeypatch.setenv("KAFKA_BROKERS", "1")
    assert (KafkaSettings().replicas, KafkaSettings().min_isr) == (1, 1)
    monkeypatch.setenv("KAFKA_REPLICATION_FACTOR", "3")
    with pytest.raises(ValidationError) as refused:
        KafkaSettings()
    assert settings_error_line(refused.value) == "KAFKA_REPLICATION_FACTOR: must be at most KAFKA_BROKERS (1)"
    monkeypatch.setenv("KAFKA_BROKERS", "3")
    monkeypatch.setenv("KAFKA_MIN_INSYNC_REPLICAS", "4")
    with pytest.raises(ValidationError) as refused:
        KafkaSettings()
    assert settings_error_line(refused.value) == "KAFKA_MIN_INSYNC_REPLICAS: must be at most the replication factor (3)"


def test_docs_say_where_each_settings_class_lives():
    document = (ENV_EXAMPLE.parent / "docs" / "settings.md").read_text()
    rows = {line.split("|")[1]: line for line in document.splitlines() if line.startswith("| `") and ".py`" in line}
    for cls in ALL_SETTINGS:
        row = next((row for names, row in rows.items() if f"`{cls.__name__}`" in names), None)
        assert row is not None, f"docs/settings.md does not say where {cls.__name__} lives"
        assert f"`{cls.__module__.replace('.', '/')}.py`" in row
        assert f"`{cls.model_config['env_prefix']}`" in row

from __future__ import annotations

import re
from pathlib import Path

from pydantic import SecretStr

from pipeline.settings import ALL_SETTINGS, ClickHouseSettings, KafkaSettings, PrivacySettings, settings_table

ENV_EXAMPLE = Path(__file__).resolve().parents[3] / ".env.example"


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
    monkeypatch.setenv("PRIVACY_HMAC_KEY", "s3cret-key-value")
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "db-password")
    privacy, clickhouse = PrivacySettings(), ClickHouseSettings()
    assert isinstance(privacy.hmac_key, SecretStr)
    assert privacy.hmac_key.get_secret_value() == "s3cret-key-value"
    assert "s3cret-key-value" not in repr(privacy) + str(privacy)
    assert "db-password" not in repr(clickhouse)


def test_dotenv_file_is_read(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KAFKA_HEAP", raising=False)
    (tmp_path / ".env").write_text("KAFKA_HEAP=2g\n")
    assert KafkaSettings().heap == "2g"


def test_the_readme_lists_every_setting_as_the_code_declares_it():
    readme = (ENV_EXAMPLE.parent / "README.md").read_text()
    table = settings_table()
    assert table in readme, "README.md's settings table is stale: regenerate it with `python -m pipeline.settings`"
    assert len(table.splitlines()) == 2 + sum(len(cls.model_fields) for cls in ALL_SETTINGS)

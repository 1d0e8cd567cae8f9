"""`crossings generate` and `crossings replay` without a broker: the source they would produce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.cli import main
from pipeline.commands import events
from schemas.ports import SHENZHEN_TZ

HMAC_KEY = "c0c95ced7b4961de94cdc7d7762e5adba7b56f18fae5d6a596c2c3ecb74f9d6c"  # 32 bytes, hex


def test_generate_with_its_defaults_ends_by_the_last_midnight_not_in_the_future(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PRIVACY_HMAC_KEY", HMAC_KEY)
    sources = []
    monkeypatch.setattr(events, "_produce", lambda source, total, as_json: sources.append(source))
    assert main(["generate", "--scale", "0.01"]) == 0
    released = [event.released_at for event in sources[0].events()]
    midnight = datetime.now(SHENZHEN_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    assert max(released) <= midnight.astimezone(UTC) <= datetime.now(UTC)
    assert min(released) >= midnight - timedelta(days=1)


def test_replay_exits_1_after_replaying_the_rest_when_a_row_is_rejected(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PRIVACY_HMAC_KEY", HMAC_KEY)
    path = tmp_path / "traffic.csv"
    path.write_text(
        "Date,Control Point,Arrival / Departure,Hong Kong Residents,Mainland Visitors,Other Visitors,Total,\n"
        "01-01-2024,Lo Wu,Arrival,5,15,25,45,\n01-01-2024,[/bold],Arrival,1,1,1,3,\n"
    )
    sources = []
    monkeypatch.setattr(events, "_produce", lambda source, total, as_json: sources.append(source))
    assert main(["replay", str(path), "--from", "2024-01-01", "--to", "2024-01-01"]) == 1
    assert sum(1 for _ in sources[0].events()) == 45
    assert capsys.readouterr().err == (
        f"crossings replay: rejected rows: 1 (listed in the summary); the other rows of {path} were replayed\n"
    )
    events._print_summary({**sources[0].summary(), "topics": {}})
    assert f"{path}:3: unknown control point '[/bold]'" in capsys.readouterr().out

"""The offline report on the Grafana tests' data set (2025-11-03, UTC), opened in headless
Debian Chromium with the network cut off: every panel rendered with data (charts with lines,
tables with rows, stats with a number), nothing loaded from outside, and a screenshot that is
not blank."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections import defaultdict
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from grafana.build import render
from grafana.report import DASHBOARDS, write_report
from grafana.report.pictures import png_pixels
from grafana.settings import GrafanaSettings

from .conftest import DAY

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (apt-get install chromium): the report is checked in a real browser",
)
# no name resolves and every proxied request goes to a closed port: nothing can load from a network
NO_NETWORK = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"]
WINDOW = (1400, 3000)
SETTINGS = GrafanaSettings(_env_file=None)


def chromium(profile: Path, *args: str) -> str:
    """Runs headless Chromium on a throwaway profile; returns its stdout. Its whole process
    group is killed afterwards, also on a timeout or a failure."""
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={profile}",
        *NO_NETWORK,
        *args,
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = process.communicate(timeout=120)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
    assert process.returncode == 0, f"chromium exited with {process.returncode}: {err[-2000:]}"
    return out


class Panels(HTMLParser):
    """The report DOM per panel (<article class="panel">): its attributes and the elements
    inside it by tag and class; plus any element that would load something."""

    def __init__(self) -> None:
        super().__init__()
        self.panels: dict[str, dict] = {}
        self.current: str | None = None
        self.depth = 0
        self.loading: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("script", "link", "img", "iframe", "object") or {"src", "href"} & attributes.keys():
            self.loading.append((tag, attributes))
        if tag == "article":
            self.current, self.depth = attributes["id"], 0
            self.panels[self.current] = {"attrs": attributes, "elements": defaultdict(list)}
        if self.current is None:
            return
        self.depth += tag == "article"
        key = f"{tag}.{attributes.get('class', '')}".rstrip(".")
        self.panels[self.current]["elements"][key].append(attributes)

    def handle_endtag(self, tag: str) -> None:
        if self.current is not None and tag == "article":
            self.depth -= 1
            if self.depth == 0:
                self.current = None


@pytest.fixture(scope="module")
def report(data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    summary = write_report(
        data, DAY, DAY + timedelta(days=1), folder / "report.html", SETTINGS, source="test warehouse"
    )
    return summary, folder


def test_summary_counts_every_panel(report):
    summary, _ = report
    assert DASHBOARDS == ("ops_centre", "port_detail", "freight", "analysts")  # every board on ClickHouse
    boards = [json.loads(render(name, SETTINGS)) for name in DASHBOARDS]
    titles = [p["title"] for board in boards for p in board["panels"] if p["type"] != "row"]
    assert summary.panels == len(titles) and summary.failed == ()
    assert summary.with_data == summary.panels  # the data set gives every panel rows
    text = summary.path.read_text(encoding="utf-8")
    assert "2025-11-03 00:00 to 2025-11-04 00:00 UTC" in text and "interval 5 min" in text
    assert "test warehouse, ClickHouse" in text
    # titles with the variables' values, as Grafana shows them
    assert "Clearance p90 forecast 30 min earlier" in text and "${" not in text


@needs_chromium
def test_every_panel_renders_with_data_in_chromium_without_network(report):
    summary, folder = report
    parser = Panels()
    parser.feed(chromium(folder / "profile", "--dump-dom", summary.path.as_uri()))
    assert parser.loading == [], "the report must load nothing"
    assert len(parser.panels) == summary.panels
    for panel_id, panel in parser.panels.items():
        kind, elements = panel["attrs"]["data-type"], panel["elements"]
        assert not elements["p.error"] and not elements["p.no-data"], panel_id
        if kind == "timeseries":
            (chart,) = elements["svg.chart"]
            assert int(chart["data-points"]) > 0 and int(chart["data-series"]) > 0, (panel_id, chart)
            assert len(elements["path.series"]) == int(chart["data-series"]), panel_id
            assert sum(int(path["data-points"]) for path in elements["path.series"]) == int(chart["data-points"])
            assert elements["text.tick"] and len(elements["text.label"]) == 2, panel_id
        elif kind == "table":
            (table,) = elements["table.data"]
            assert len(elements["tr"]) == int(table["data-rows"]) + 1 > 1, panel_id  # the header row too
        else:
            assert len(elements["div.stat"]) == 1, panel_id
    stats = {
        panel_id: panel["elements"]["div.stat"][0]["data-value"]
        for panel_id, panel in parser.panels.items()
        if panel["attrs"]["data-type"] == "stat"
    }
    freight = json.loads(render("freight", SETTINGS))
    share = next(p["id"] for p in freight["panels"] if p["title"] == "Huanggang share in range")
    assert stats[f"panel-{freight['uid']}-{share}"] == "0.5"  # 2 of the 4 trucks


@needs_chromium
def test_screenshot_is_not_blank(report):
    summary, folder = report
    shot = folder / "report.png"
    chromium(
        folder / "profile",
        f"--screenshot={shot}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--hide-scrollbars",
        summary.path.as_uri(),
    )
    pixels = png_pixels(shot)
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    rgb = pixels[..., :3].astype(np.uint32)
    colours = np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2])
    assert len(colours) > 50, f"only {len(colours)} colours: the screenshot looks blank"
    background = np.all(pixels[..., :3] == pixels[0, 0, :3], axis=-1).mean()
    assert background < 0.95, f"{background:.0%} of the screenshot is background"


def test_command_on_an_empty_warehouse_says_no_data(tmp_path):
    """`crossings migrate` then `crossings report` in a process of their own, on a fresh chdb:
    the charts and tables say "no data"; stats of counts show their zero."""
    env = {**os.environ, "CLICKHOUSE_DATA_PATH": str(tmp_path / "chdb")}
    env.pop("CLICKHOUSE_URL", None)
    crossings = str(Path(sys.executable).parent / "crossings")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([crossings, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    assert run("migrate").returncode == 0
    result = run("report", "--from", "2025-11-03T06:00", "--to", "2025-11-03T08:00")
    assert result.returncode == 0 and "0 failed" in result.stdout, result.stderr
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "2025-11-03 06:00 to 2025-11-03 08:00 UTC (interval 1 min)" in text
    parser = Panels()
    parser.feed(text)
    kinds_without_data = set()
    for panel_id, panel in parser.panels.items():
        kind, elements = panel["attrs"]["data-type"], panel["elements"]
        if kind == "timeseries":
            assert elements["svg.chart"][0]["data-points"] == "0" and elements["text.no-data"], panel_id
        elif panel["attrs"]["data-rows"] == "0":
            assert elements["p.no-data"] and not elements["table.data"] and not elements["div.stat"], panel_id
        if elements["p.no-data"] or elements["text.no-data"]:
            kinds_without_data.add(kind)
    assert kinds_without_data == {"timeseries", "table", "stat"}  # a stat of max() over no rows is null

    one = run("report", "--from", "2025-11-03", "--to", "2025-11-03", "--board", "analysts", "--out", "analysts.html")
    assert one.returncode == 0, one.stderr
    analysts = (tmp_path / "analysts.html").read_text(encoding="utf-8")
    assert 'id="crossings-analysts"' in analysts and 'id="crossings-ops-centre"' not in analysts
    assert run("report", "--from", "2025-11-03", "--to", "2025-11-03", "--board", "nope").returncode == 2


def test_the_commands_board_choices_are_the_reports_dashboards():
    from pipeline.commands.report import REPORT_BOARDS

    assert REPORT_BOARDS == DASHBOARDS


@needs_chromium
def test_picture_of_one_board_is_cropped_to_its_content(data, tmp_path):
    from grafana.report.pictures import WINDOW_HEIGHT, WINDOW_WIDTH, screenshot

    summary = write_report(data, DAY, DAY + timedelta(days=1), tmp_path / "freight.html", SETTINGS, names=("freight",))
    pixels = png_pixels(screenshot(summary.path, tmp_path / "freight.png"))
    height, width, _ = pixels.shape
    assert width == WINDOW_WIDTH and 400 < height < WINDOW_HEIGHT
    background = pixels[-1, 0]
    assert np.all(pixels[-10:] == background) and not np.all(pixels[height // 2] == background)

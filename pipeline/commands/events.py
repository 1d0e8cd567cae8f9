"""`crossings generate` and `crossings replay`: crossing events into the raw Kafka topics."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from time import monotonic

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from connectors.kafka.producer import CrossingProducer
from connectors.sources.base import Source
from connectors.sources.replay import ReplaySource
from connectors.sources.scenarios import SCENARIOS
from connectors.sources.simulator import SimulatorSource, simulated_period
from pipeline.commands.common import UserError, kafka_bootstrap
from schemas.events import Crossing
from schemas.ports import SHENZHEN_TZ
from schemas.privacy import PrivacySettings, Pseudonymiser


def register(groups: argparse._SubParsersAction) -> None:
    generate = groups.add_parser("generate", help="simulate the ports and produce crossings to Kafka")
    generate.add_argument("--sim-hours", type=float, default=24.0, help="simulated hours (default 24)")
    generate.add_argument(
        "--start",
        type=date.fromisoformat,
        help="simulated local day to start at, YYYY-MM-DD (default: the period ends at the "
        "last Shenzhen midnight or before, so no event is in the future)",
    )
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--scenario", default="normal", choices=sorted(SCENARIOS))
    generate.add_argument(
        "--speed", type=float, default=None, help="pace event time at X times real time (default: as fast as possible)"
    )
    generate.add_argument("--scale", type=float, default=1.0, help="multiply the default daily volumes")
    _output_options(generate)
    generate.set_defaults(handler=run_generate)

    replay = groups.add_parser("replay", help="replay the HK Immigration Department's daily statistics")
    replay.add_argument("csv", type=Path, help="hk-immd-daily-passenger-traffic CSV")
    replay.add_argument("--from", dest="date_from", type=date.fromisoformat, required=True)
    replay.add_argument("--to", dest="date_to", type=date.fromisoformat, required=True)
    replay.add_argument("--scale", default="1", help="events per published crossing, e.g. 0.1")
    replay.add_argument("--seed", type=int, default=0)
    _output_options(replay)
    replay.set_defaults(handler=run_replay)


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON document")


def run_generate(args: argparse.Namespace) -> int:
    privacy = PrivacySettings()  # outside the try: a bad setting is the CLI's to report
    try:
        start = (
            datetime.combine(args.start, time(0), SHENZHEN_TZ) if args.start else simulated_period(args.sim_hours)[0]
        )
        source = SimulatorSource(
            start,
            args.sim_hours,
            seed=args.seed,
            scenario=args.scenario,
            scale=args.scale,
            speed=args.speed,
            pseudonymiser=Pseudonymiser.from_settings(privacy),
        )
    except ValueError as error:
        raise UserError(str(error)) from error
    _produce(source, total=None, as_json=args.json)
    return 0


def run_replay(args: argparse.Namespace) -> int:
    if not args.csv.is_file():
        raise UserError(f"no such file: {args.csv}")
    privacy = PrivacySettings()
    try:
        source = ReplaySource(
            args.csv,
            args.date_from,
            args.date_to,
            args.scale,
            seed=args.seed,
            pseudonymiser=Pseudonymiser.from_settings(privacy),
        )
    except ValueError as error:
        raise UserError(str(error)) from error
    _produce(source, total=sum(source.expected_counts().values()), as_json=args.json)
    if source.rejections:
        print(
            f"crossings replay: rejected rows: {len(source.rejections)} (listed in the summary); "
            f"the other rows of {args.csv} were replayed",
            file=sys.stderr,
        )
        return 1
    return 0


def _produce(source: Source, total: int | None, as_json: bool) -> None:
    """Send every event of `source`, with a progress bar on stderr; print the summary."""
    with CrossingProducer(kafka_bootstrap()) as producer:
        producer.send_all(_with_progress(source.events(), total))
    summary = {**source.summary(), "topics": dict(sorted(producer.sent.items()))}
    if as_json:
        print(json.dumps(summary))
    else:
        _print_summary(summary)


def _with_progress(events: Iterator[Crossing], total: int | None) -> Iterator[Crossing]:
    columns = [
        TextColumn("producing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("events", total=total, rate="")
        started = monotonic()
        for count, event in enumerate(events, 1):
            yield event
            if count % 1000 == 0:
                rate = count / max(monotonic() - started, 1e-9)
                progress.update(task, completed=count, rate=f"{rate:,.0f} events/s")


def _print_summary(summary: dict) -> None:
    console = Console()
    console.print(f"[bold]{summary['events']}[/bold] events produced")
    for topic, count in summary["topics"].items():
        console.print(f"  {topic}: {count}")
    for name, count in summary.get("skipped", {}).items():
        console.print(f"  skipped (no Shenzhen counterpart): {name}, {count} crossings")
    rejected = summary.get("rejected", [])
    if rejected:
        console.print(f"[yellow]{len(rejected)} rows rejected[/yellow]")
        for rejection in rejected:  # one line each, as file:line: reason; it quotes the file: no markup
            console.print(
                f"  {summary['path']}:{rejection['line']}: {rejection['reason']}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )

"""`crossings demo`: the whole pipeline on embedded defaults, with a live board (pipeline/demo/)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.logging import RichHandler
from rich.table import Table

from connectors.sources.scenarios import SCENARIOS
from pipeline.commands.common import UserError, stop_on_signals


def register(groups: argparse._SubParsersAction) -> None:
    demo = groups.add_parser("demo", help="run the whole pipeline on a simulated day, with a live board")
    demo.add_argument(
        "--sim-hours",
        type=float,
        default=24.0,
        help="simulated hours, ending at the last Shenzhen midnight (default 24)",
    )
    demo.add_argument(
        "--speed", type=float, default=240.0, help="event time at X times real time (default 240: a day in 6 minutes)"
    )
    demo.add_argument(
        "--scenario",
        default="demo-day",
        choices=sorted(SCENARIOS),
        help="default demo-day: a morning surge at Shenzhen Bay, a Huanggang freight lane closure",
    )
    demo.add_argument(
        "--scale", type=float, default=0.1, help="volumes and lanes x this (default 0.1: about 60k events a day)"
    )
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument(
        "--work-dir",
        type=Path,
        default=Path("var/demo"),
        help="broker data, checkpoints, logs and the report (default var/demo)",
    )
    demo.add_argument("--no-board", action="store_true", help="log progress lines instead of the live board")
    demo.add_argument("--json", action="store_true", help="print the summary as one JSON document")
    demo.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from pipeline.demo import Demo, DemoError, DemoOptions

    if args.speed <= 0 or args.sim_hours <= 0 or args.scale <= 0:
        raise UserError("--speed, --sim-hours and --scale must be > 0")
    options = DemoOptions(
        sim_hours=args.sim_hours,
        speed=args.speed,
        scenario=args.scenario,
        scale=args.scale,
        seed=args.seed,
        work_dir=args.work_dir,
    )
    console = Console(stderr=args.json)
    _log_to(console, options.work_dir / "logs" / "demo.log")
    # Ctrl-C, SIGTERM or SIGHUP sets the demo's stop event: everything is stopped, then summarised
    with stop_on_signals() as stop:
        demo = Demo(options, stop)
        console.print(
            f"[bold]crossings demo[/bold]: {args.scenario}, {demo.start:%Y-%m-%d %H:%M} to "
            f"{demo.end:%Y-%m-%d %H:%M} Asia/Shanghai at x{args.speed:g}, scale {args.scale:g}; "
            "Ctrl-C ends it"
        )
        try:
            if args.no_board:
                summary = demo.run(_progress_lines(options.refresh_s))
            else:
                from pipeline.demo.board import render

                with Live(console=console, refresh_per_second=2, transient=False) as live:
                    summary = demo.run(lambda snapshot: live.update(render(snapshot)))
        except DemoError as error:
            raise UserError(str(error)) from error
    if args.json:
        print(json.dumps(summary.as_dict(), default=str))
    else:
        _print_summary(console, summary)
    stop.raise_if_signalled()  # interrupted: exit 128 + the signal's number
    return 0


def _log_to(console: Console, path: Path) -> None:
    """Everything to the demo's log file; the alerts, progress lines and our errors also to the
    console, above the board (the Kafka client's retries while topics appear only to the file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(path, mode="w")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    to_console = RichHandler(console=console, show_path=False, markup=False)
    to_console.addFilter(
        lambda record: (
            record.name == "crossings.demo"
            or record.getMessage().startswith("ALERT ")
            or (record.levelno >= logging.ERROR and not record.name.startswith("kafka"))
        )
    )
    logging.basicConfig(level=logging.INFO, handlers=[to_file, to_console], force=True)
    logging.getLogger("kafka").setLevel(logging.WARNING)


def _progress_lines(every_s: float):
    log = logging.getLogger("crossings.demo")
    last = [0.0]

    def show(snapshot) -> None:
        if snapshot.elapsed_s - last[0] >= 15 * every_s or not last[0]:
            last[0] = snapshot.elapsed_s or 1e-9
            counts = snapshot.counts
            log.info(
                "simulated %s: produced %d, received %d, clean %d, dead letters %d, open alerts %d, lag %d",
                f"{snapshot.sim_now:%H:%M}",
                snapshot.produced,
                counts["received"],
                counts["clean"],
                counts["dead_letters"],
                len(snapshot.open_alerts),
                snapshot.consumer_lag,
            )

    return show


def _print_summary(console: Console, summary) -> None:
    heading = "interrupted" if summary.interrupted else "done"
    console.print(
        f"\n[bold]Demo {heading}[/bold] in {summary.elapsed_s:.0f} s: {summary.produced:,} events produced; "
        + ", ".join(f"{name.replace('_', ' ')} {value:,}" for name, value in summary.counts.items())
    )
    ports = Table("port", "crossings", "p50 clearance", "p90", "p99", title="Crossings and clearance per port")
    for row in summary.ports:
        ports.add_row(
            row["port_code"],
            f"{int(row['crossings']):,}",
            *(f"{row[name] / 60:.1f} min" for name in ("p50_s", "p90_s", "p99_s")),
        )
    console.print(ports)
    alerts = Table(
        "port", "kind", "direction", "severity", "raised (UTC)", "resolved (UTC)", "peak p90", title="Alert episodes"
    )
    for row in summary.alerts:
        alerts.add_row(
            row["port_code"],
            row["kind"],
            row["direction"],
            row["severity"],
            row["raised_at"],
            row["resolved_at"] or "open",
            f"{row['peak_p90_s'] / 60:.1f} min",
        )
    console.print(alerts)
    warnings = Table(
        "port",
        "kind",
        "direction",
        "raised (UTC)",
        "resolved (UTC)",
        "peak forecast",
        "advice when raised",
        title=f"Early warnings (30-minute forecast over the threshold; {summary.forecasts:,} forecasts issued)",
    )
    for row in summary.early_warnings:
        warnings.add_row(
            row["port_code"],
            row["kind"],
            row["direction"],
            row["raised_at"],
            row["resolved_at"] or "open",
            f"{row['peak_forecast_s'] / 60:.1f} min",
            row["advice"] or "",
        )
    console.print(warnings)
    console.print(
        f"Report: {summary.report or 'not written (see the log)'}    logs: {summary.logs}    "
        f"warehouse: {summary.warehouse}"
    )
    day_from, day_to = summary.days
    console.print(
        "Ask the warehouse:\n"
        f"  .venv/bin/crossings sql -f sql/queries/port_clearance.sql --param date_from={day_from} "
        f"--param date_to={day_to}\n"
        f"  .venv/bin/crossings sql -f sql/queries/alert_history.sql --param date_from={day_from} "
        f"--param date_to={day_to}\n"
        '  .venv/bin/crossings sql "SELECT kind, count() FROM crossings FINAL GROUP BY kind"'
    )

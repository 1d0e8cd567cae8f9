"""The forecast job (issue 21): crossings.clean -> per-minute aggregates (Flink SQL) -> the
clearance forecast 15, 30 and 60 minutes ahead of every port, kind and direction each minute,
and its early warnings with diversion advice (pipeline/transforms/forecast_stream.py), into
crossings.metrics.forecast (upserts) and crossings.alerts.

Run with `crossings forecast run` (local mini-cluster) or `crossings forecast submit`
(standalone cluster); both execute this script with the profiles' file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pyflink.common import Types
from pyflink.table import StreamTableEnvironment, Table

from connectors.kafka.topics import CLEAN, FORECAST, FORECAST_JOB_OUTPUTS, broker_config, ensure_topics
from deploy.services.settings import FlinkSettings
from pipeline.jobs.kafka_tables import Sinks, configure_job, job_parser, kafka_options, scan_options
from pipeline.jobs.settings import PipelineSettings
from pipeline.runtime import FORECAST_JOB_NAME, stream_environments
from pipeline.transforms.forecast_stream import (
    ALERTS_TAG,
    CLEAN_COLUMNS,
    FORECAST_ROW,
    ForecastFunction,
    clean_watermark,
    minute_aggregates,
    minute_key,
)
from schemas.privacy import PrivacySettings


def create_source(
    table_env: StreamTableEnvironment, settings: PipelineSettings, bootstrap: str, bounded: bool
) -> Table:
    """The clean crossings (JSON), the fields the forecast reads, with a watermark on released_at."""
    options = kafka_options(
        bootstrap,
        connector="kafka",
        topic=CLEAN.name,
        format="json",
        **{
            "properties.group.id": f"{settings.consumer_group}-forecast",
            "properties.isolation.level": "read_committed",
            **scan_options(bounded),
        },
    )
    table_env.execute_sql(f"""
        CREATE TEMPORARY TABLE clean_crossings (
          {CLEAN_COLUMNS},
          {clean_watermark(settings.out_of_orderness_s)}
        ) WITH ({options})""")
    return table_env.from_path("clean_crossings")


def main() -> None:
    parser = job_parser(__doc__, CLEAN.name)
    parser.add_argument("--profile", required=True, type=Path, help="the profiles (JSON, profiles_to_json)")
    args = parser.parse_args()
    settings = PipelineSettings()
    profiles = args.profile.read_text()

    env, table_env = stream_environments(FlinkSettings(), PrivacySettings(), args.parallelism)
    configure_job(table_env, settings, FORECAST_JOB_NAME)
    # the Python workers of the process function run this interpreter (with pyflink)
    table_env.get_config().set("python.executable", sys.executable)
    exactly_once = settings.delivery_guarantee == "exactly-once" and not args.explain
    sinks = Sinks(
        table_env,
        settings,
        args.bootstrap,
        int(broker_config(args.bootstrap, "transaction.max.timeout.ms")) if exactly_once else None,
        f"{settings.transactional_id_prefix}-forecast",
    )
    sinks.upsert("forecast_sink", FORECAST)
    sinks.alerts("forecast_alert_sink")

    minutes = minute_aggregates(table_env, create_source(table_env, settings, args.bootstrap, args.bounded))
    forecasts = (
        table_env.to_data_stream(minutes)
        .key_by(minute_key, key_type=Types.STRING())
        .process(ForecastFunction(profiles), output_type=FORECAST_ROW)
        .uid("forecast")
        .name("forecast")
    )
    statements = table_env.create_statement_set()
    statements.add_insert("forecast_sink", table_env.from_data_stream(forecasts))
    statements.add_insert("forecast_alert_sink", table_env.from_data_stream(forecasts.get_side_output(ALERTS_TAG)))
    if args.explain:
        print(statements.explain())
        return
    ensure_topics(args.bootstrap, [CLEAN, *FORECAST_JOB_OUTPUTS])
    statements.attach_as_datastream()
    env.execute(FORECAST_JOB_NAME)


if __name__ == "__main__":
    main()

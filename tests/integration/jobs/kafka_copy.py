"""A PyFlink SQL job for the foundation tests: reads a Kafka topic to its end through the Kafka
connector, derives a column, and writes every row to another topic."""

import argparse

from deploy.services.settings import FlinkSettings
from pipeline.runtime import stream_environments
from schemas.privacy import PrivacySettings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--sink", required=True)
    args = parser.parse_args()

    env = stream_environments(FlinkSettings(), PrivacySettings())[1]
    kafka = f"'connector' = 'kafka', 'properties.bootstrap.servers' = '{args.bootstrap}', 'format' = 'json'"
    env.execute_sql(f"""
        CREATE TABLE source (id BIGINT, port STRING, minutes INT) WITH ({kafka},
          'topic' = '{args.source}', 'properties.group.id' = 'kafka-copy',
          'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset')""")
    env.execute_sql(f"""
        CREATE TABLE sink (id BIGINT, port STRING, seconds INT) WITH ({kafka},
          'topic' = '{args.sink}', 'sink.delivery-guarantee' = 'at-least-once')""")
    env.execute_sql("INSERT INTO sink SELECT id, UPPER(port), minutes * 60 FROM source").wait()


if __name__ == "__main__":
    main()

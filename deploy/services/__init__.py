"""Local service runner: a real Kafka broker (KRaft) and a standalone Flink cluster.

`LocalStack` starts and stops both and records what it started in a state file, so that
`crossings services down` in another process stops exactly that. Test fixtures use
`KafkaBroker` and `FlinkCluster` directly as context managers.
"""

from deploy.services.errors import ServiceError
from deploy.services.flink import FlinkCluster
from deploy.services.kafka import KafkaBroker
from deploy.services.stack import LocalStack

__all__ = ["FlinkCluster", "KafkaBroker", "LocalStack", "ServiceError"]

"""Which failed commits the group reader's callers retry: the broker or coordinator away,
yes; the group rebalanced or this member removed, no (the new owner reads from the commits)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from connectors.kafka.consumer import CommitRefused, CommitRetriable, GroupReader


@pytest.mark.parametrize(
    "code",
    [
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    ],
)
def test_a_commit_failing_while_the_broker_or_coordinator_is_away_is_retried(code):
    assert isinstance(GroupReader._commit_error(KafkaError(code)), CommitRetriable)


@pytest.mark.parametrize(
    "code",
    [KafkaError.ILLEGAL_GENERATION, KafkaError.UNKNOWN_MEMBER_ID, KafkaError.REBALANCE_IN_PROGRESS, KafkaError._STATE],
)
def test_a_commit_the_group_refuses_is_not_retried(code):
    error = GroupReader._commit_error(KafkaError(code))
    assert isinstance(error, CommitRefused) and str(error)

"""Topic creation against the session's broker, in a process of its own: what it prints."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid

from connectors.kafka.topics import TopicSpec, ensure_topics

# a line librdkafka writes itself to stderr: "%<level>|<time>|<facility>|<client>| ..."
LIBRDKAFKA_LINE = re.compile(r"^%\d\|", re.MULTILINE)


def test_creating_a_topic_leaves_librdkafkas_lines_to_logging(kafka_broker):
    topic = f"test.topics.{uuid.uuid4().hex}"  # missing: its creation reads the broker's settings
    script = "import sys; from connectors.kafka.topics import TopicSpec, ensure_topics; "
    script += "print(ensure_topics(sys.argv[1], [TopicSpec(sys.argv[2])]))"
    result = subprocess.run(
        [sys.executable, "-c", script, kafka_broker.bootstrap, topic], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str([topic])
    assert not LIBRDKAFKA_LINE.search(result.stderr), result.stderr
    assert ensure_topics(kafka_broker.bootstrap, [TopicSpec(topic)]) == []  # exists now

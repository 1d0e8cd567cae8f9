"""Reading Kafka in the background while a benchmark drives the pipeline."""

from __future__ import annotations

import threading

from confluent_kafka import Consumer


class KafkaFollower:
    """Calls `step` (one round of reading) in a thread from the start of the `with` block to
    its end, then closes `consumers`."""

    def __init__(self, *consumers: Consumer) -> None:
        self.consumers = consumers
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join()
        for consumer in self.consumers:
            consumer.close()

    def _follow(self) -> None:
        while not self.stopping.is_set():
            self.step()

    def step(self) -> None:
        raise NotImplementedError

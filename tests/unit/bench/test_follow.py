"""KafkaFollower: steps in a thread for the length of the `with` block, then closes its consumers."""

import threading

from bench.follow import KafkaFollower


class Consumer:
    closed = False

    def close(self) -> None:
        self.closed = True


class Counting(KafkaFollower):
    def __init__(self, *consumers) -> None:
        super().__init__(*consumers)
        self.steps = 0
        self.stepped = threading.Event()

    def step(self) -> None:
        self.steps += 1
        self.stepped.set()


def test_steps_until_the_block_ends_then_closes_the_consumers():
    consumers = Consumer(), Consumer()
    with Counting(*consumers) as follower:
        assert follower.stepped.wait(5)
        assert not any(consumer.closed for consumer in consumers)
    steps = follower.steps
    assert not follower.thread.is_alive()
    assert all(consumer.closed for consumer in consumers)
    assert follower.steps == steps

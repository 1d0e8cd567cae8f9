"""The job benchmark's account of the TaskManagers' threads."""

from bench.job import thread_groups


def test_jit_compilers_and_gc_threads_are_summed_and_the_rest_ranked():
    before = {"C2 CompilerThre": 4.0, "OverAggregate[9": 10.0}
    now = {
        "C2 CompilerThre": 10.0,
        "C1 CompilerThre": 3.0,
        "GC Thread#0": 1.5,
        "GC Thread#1": 0.5,
        "OverAggregate[9": 30.0,
        "Source: raw_cro": 5.0,
        "Flink Netty Cli": 1.0,
    }

    groups = thread_groups(now, before, top=2)

    assert groups == {"OverAggregate[9": 20.0, "jit": 9.0, "gc": 2.0, "other threads": 6.0}

"""Peak RSS of process trees from a /proc laid out in a temporary folder."""

from pathlib import Path

from bench.procfs import (
    CLOCK_TICKS,
    children,
    cpu_seconds,
    cpu_ticks,
    descendants,
    parent_pid,
    peak_rss,
    peak_rss_kib,
    status_fields,
    thread_cpu_seconds,
)

STATUS = "Name:\tjava\nState:\tS (sleeping)\nVmPeak:\t 9000000 kB\nVmHWM:\t  524288 kB\nVmRSS:\t  400000 kB\n"


def make_process(proc: Path, pid: int, ppid: int, name: str, hwm_kib: int | None, ticks: int = 0) -> None:
    folder = proc / str(pid)
    folder.mkdir(parents=True)
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    (folder / "stat").write_text(f"{pid} ({name}) S {ppid} {pid} {pid} 0 -1 4194560 0 0 0 0 {ticks} {ticks} 0 0\n")
    status = f"Name:\t{name}\nState:\tS (sleeping)\n" + (f"VmHWM:\t{hwm_kib} kB\n" if hwm_kib else "")
    (folder / "status").write_text(status)


def test_status_fields_and_peak():
    assert status_fields(STATUS)["Name"] == "java"
    assert peak_rss_kib(STATUS) == 524288
    assert peak_rss_kib("Name:\tkthreadd\nState:\tS (sleeping)\n") is None


def test_parent_pid_with_parentheses_and_spaces_in_the_command():
    assert parent_pid("4242 (python (worker) x) S 17 4242 4242 0 -1") == 17


def test_tree_and_peaks(tmp_path):
    make_process(tmp_path, 10, 1, "bash", 4096)
    make_process(tmp_path, 11, 10, "java", 1048576)
    make_process(tmp_path, 12, 11, "python", 204800)
    make_process(tmp_path, 13, 11, "kworker", None)
    make_process(tmp_path, 20, 1, "other", 999)
    (tmp_path / "self").mkdir()

    assert descendants(10, children(tmp_path)) == [10, 11, 12, 13]
    assert peak_rss(10, tmp_path) == [
        {"pid": 10, "command": "bash", "peak_rss_mb": 4.0},
        {"pid": 11, "command": "java", "peak_rss_mb": 1024.0},
        {"pid": 12, "command": "python", "peak_rss_mb": 200.0},
    ]
    assert peak_rss(99, tmp_path) == []


def test_cpu_ticks_are_user_plus_system_time():
    assert cpu_ticks("4242 (java (x)) S 17 4242 4242 0 -1 4194560 10 0 0 0 150 25 3 4 20 0") == 175


def test_cpu_seconds_sum_a_tree(tmp_path):
    make_process(tmp_path, 10, 1, "bash", 4096, ticks=1)
    make_process(tmp_path, 11, 10, "java", 1048576, ticks=CLOCK_TICKS)
    make_process(tmp_path, 20, 1, "other", 999, ticks=500)

    assert cpu_seconds(10, tmp_path) == (2 + 2 * CLOCK_TICKS) / CLOCK_TICKS
    assert cpu_seconds(99, tmp_path) == 0


def test_thread_cpu_seconds_sum_threads_of_one_name(tmp_path):
    for tid, name, ticks in [(7, "C2 CompilerThre", 3), (8, "C2 CompilerThre", 5), (9, "Source: raw_cro", 2)]:
        folder = tmp_path / "7" / "task" / str(tid)
        folder.mkdir(parents=True)
        (folder / "stat").write_text(f"{tid} ({name}) S 1 7 7 0 -1 0 0 0 0 0 {ticks * CLOCK_TICKS} 0 0 0\n")

    assert thread_cpu_seconds(7, tmp_path) == {"C2 CompilerThre": 8.0, "Source: raw_cro": 2.0}

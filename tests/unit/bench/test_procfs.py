"""Peak RSS of process trees from a /proc laid out in a temporary folder."""

from pathlib import Path

from bench.procfs import children, descendants, parent_pid, peak_rss, peak_rss_kib, status_fields

STATUS = "Name:\tjava\nState:\tS (sleeping)\nVmPeak:\t 9000000 kB\nVmHWM:\t  524288 kB\nVmRSS:\t  400000 kB\n"


def make_process(proc: Path, pid: int, ppid: int, name: str, hwm_kib: int | None) -> None:
    folder = proc / str(pid)
    folder.mkdir(parents=True)
    (folder / "stat").write_text(f"{pid} ({name}) S {ppid} {pid} {pid} 0 -1 4194560\n")
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

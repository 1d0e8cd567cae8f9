"""Peak resident memory and CPU time of process trees, read from /proc (no psutil)."""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def status_fields(text: str) -> dict[str, str]:
    """The `Key:\tvalue` lines of /proc/<pid>/status."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.strip()
    return fields


def peak_rss_kib(text: str) -> int | None:
    """VmHWM (the peak resident set size, in KiB) of a status text; None for a kernel thread
    or a zombie, which have none."""
    value = status_fields(text).get("VmHWM")
    return int(value.split()[0]) if value else None


def parent_pid(stat: str) -> int:
    """The ppid field of /proc/<pid>/stat (`pid (comm) state ppid ...`; comm may hold ')')."""
    return int(stat.rpartition(")")[2].split()[1])


def cpu_ticks(stat: str) -> int:
    """utime + stime (clock ticks) of a /proc/<pid>/stat text."""
    fields = stat.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def children(proc: Path = PROC) -> dict[int, list[int]]:
    """Each running process's child pids."""
    tree: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = parent_pid((entry / "stat").read_text())
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int, tree: dict[int, list[int]]) -> list[int]:
    """`pid` and every process below it, parents first."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop(0)
        found.append(current)
        pending.extend(sorted(tree.get(current, [])))
    return found


def peak_rss(pid: int, proc: Path = PROC) -> list[dict]:
    """{pid, command, peak_rss_mb} of `pid` and each process below it that has a resident set."""
    rows = []
    for member in descendants(pid, children(proc)):
        try:
            text = (proc / str(member) / "status").read_text()
        except OSError:
            continue
        kib = peak_rss_kib(text)
        if kib is not None:
            rows.append(
                {"pid": member, "command": status_fields(text).get("Name", "?"), "peak_rss_mb": round(kib / 1024, 1)}
            )
    return rows


def cpu_seconds(pid: int, proc: Path = PROC) -> float:
    """CPU time (user + system) used so far by `pid` and the processes below it that still run."""
    ticks = 0
    for member in descendants(pid, children(proc)):
        try:
            ticks += cpu_ticks((proc / str(member) / "stat").read_text())
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
    return ticks / CLOCK_TICKS


def thread_cpu_seconds(pid: int, proc: Path = PROC) -> dict[str, float]:
    """CPU time so far of each thread of process `pid`, summed per thread name (the kernel's
    comm: the first 15 characters; a JVM names its JIT compiler and GC threads there)."""
    seconds: dict[str, float] = {}
    for task in (proc / str(pid) / "task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        seconds[name] = seconds.get(name, 0.0) + cpu_ticks(stat) / CLOCK_TICKS
    return seconds

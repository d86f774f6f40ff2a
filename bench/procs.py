"""What the benchmark reads about processes from ``/proc`` (Linux): CPU seconds and peak memory; and how the
benchmark and the tests stop the processes they started.

CPU is summed over a process and its descendants (gunicorn's workers, PostgreSQL's backends), so "CPU per
submission" is the app's and the database's own work, not the load generator's.  Peak memory is ``VmHWM``
(the high-water mark of the resident set) of the largest process of a tree.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (breadth first)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        for k in kids:
            out.append(int(k))
            todo.append(int(k))
    return out


def tree(pid: int) -> list[int]:
    return [pid, *children(pid)]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of ``pids`` (processes that ended meanwhile count as 0)."""
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat(5))
    return total / _TICKS


def peak_rss_mb(pids: list[int]) -> float:
    """The largest ``VmHWM`` among ``pids``, in MiB (0 when none can be read)."""
    best = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    best = max(best, int(line.split()[1]))
        except OSError:
            continue
    return best / 1024


def self_peak_rss_mb() -> float:
    """This process's own peak resident set so far, in MiB."""
    return peak_rss_mb([os.getpid()])


def postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pid_listening(port: int) -> int | None:
    """The pid of the process that listens on TCP ``port`` (this user's processes only), else None."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                inodes.add(cols[9])
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


def stop_all(
    processes: Sequence[subprocess.Popen[bytes]],
    sig: signal.Signals = signal.SIGTERM,
    timeout_s: float = 30.0,
) -> None:
    """Signal every process first, then wait for each, killing any still running after ``timeout_s``: they all
    wind down at once (a consumer leaves its group after its current batch) instead of one after another."""
    for p in processes:
        p.send_signal(sig)
    for p in processes:
        try:
            p.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()

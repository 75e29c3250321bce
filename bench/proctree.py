"""CPU time and memory of a process tree, read from /proc (Linux; no psutil needed).

A Dramatiq worker is a main process with forked worker processes (and a metrics server fork), so
figures are summed over the root and all its live descendants.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class TreeSample:
    pids: tuple[int, ...]
    cpu_seconds: float  # user + system time of the live processes
    rss_bytes: int  # resident set, summed
    hwm_bytes: int  # each process's own peak resident set (VmHWM), summed: an upper bound of the tree's peak


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its closing one.
    return text[text.rindex(")") + 2 :].split()


def _parent_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def descendants(root: int) -> list[int]:
    """``root`` and every live process below it."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            parent = _parent_of(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _cpu_seconds(pid: int) -> float:
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # After the name: state is index 0, so utime (field 14) and stime (field 15) are indexes 11 and 12.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def sample_tree(root: int) -> TreeSample:
    pids = descendants(root)
    return TreeSample(
        pids=tuple(pids),
        cpu_seconds=sum(_cpu_seconds(pid) for pid in pids),
        rss_bytes=sum(_status_kib(pid, "VmRSS") for pid in pids) * 1024,
        hwm_bytes=sum(_status_kib(pid, "VmHWM") for pid in pids) * 1024,
    )

"""What every benchmark driver and load generator needs once: ports, percentiles, file limits,
and CPU readings from /proc (per process tree, per machine, per child), so the drivers
(`ingest.py`, `stream.py`) and the generators (`ingest_load.py`, `sse_clients.py`) measure
the same way. Standard library only: the generators import it in their own lean processes.
"""

from __future__ import annotations

import os
import resource
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
NOFILE = 65536


def free_port(preferred: int = 0) -> int:
    """`preferred` if nobody listens there, else one the kernel picks (the caller binds it
    soon after; good enough on a benchmark box)."""
    for port in dict.fromkeys((preferred, 0)):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free port")


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None when there are none)."""
    if not len(sorted_values):
        return None
    rank = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def raise_nofile(want: int = NOFILE) -> int:
    """Raises the open-file limit (thousands of sockets); as far as the hard limit goes when
    not root. Returns the limit now in force."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- CPU from /proc ---------------------------------------------------------------------------


def process_table() -> dict[int, tuple[str, int, float]]:
    """pid -> (comm, ppid, CPU seconds) for every process on the machine."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                raw = fh.read()
        except OSError:
            continue
        comm = raw[raw.find("(") + 1 : raw.rfind(")")]
        fields = raw.rsplit(")", 1)[1].split()
        table[int(entry.name)] = (
            comm,
            int(fields[1]),
            (int(fields[11]) + int(fields[12])) / CLK_TCK,
        )
    return table


def process_tree(pid: int, table: dict[int, tuple[str, int, float]] | None = None) -> list[int]:
    """`pid` and its descendants (a launcher runs the app in child processes)."""
    table = process_table() if table is None else table
    children: dict[int, list[int]] = {}
    for child, (_comm, parent, _cpu) in table.items():
        children.setdefault(parent, []).append(child)
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    return tree


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process, seconds (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu_seconds(pid: int) -> float:
    """utime + stime of a process tree, seconds."""
    table = process_table()
    return sum(table[member][2] for member in process_tree(pid, table) if member in table)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    with open("/proc/stat") as fh:
        parts = [float(x) for x in fh.readline().split()[1:8]]
    idle = parts[3] + parts[4]  # idle + iowait
    return (sum(parts) - idle) / CLK_TCK, sum(parts) / CLK_TCK


def machine_busy_percent(seconds: float) -> float:
    """How busy the machine is over the next `seconds`, % of all cores."""
    busy0, total0 = machine_cpu_seconds()
    time.sleep(seconds)
    busy1, total1 = machine_cpu_seconds()
    return 100 * (busy1 - busy0) / max(1e-9, total1 - total0)


def children_cpu_seconds() -> float:
    """CPU of this process's finished children (the load generators it ran and waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

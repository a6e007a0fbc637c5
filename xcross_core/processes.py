"""Whether a process recorded by pid is still the one that was started: liveness across pid reuse and reboots.

Linux's /proc gives each process a start time; together with the pid and the boot id it names one process for
good. Where /proc is missing (macOS) only the pid can be checked; on Windows liveness is not judged.
"""

from __future__ import annotations

import os
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    """Fields 3 onwards of /proc/<pid>/stat (state first), or None without /proc or without the process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; the fields after its last ')' do not.
    return stat[stat.rindex(")") + 2 :].split()


def process_start(pid: int) -> str | None:
    """When process `pid` started, as "boot id:clock ticks since boot" (Linux); None where unknown.

    Together with the pid this names one process for good: a reused pid or a reboot changes it.
    """
    fields = _stat(pid)
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    return None if fields is None else f"{boot}:{fields[19]}"  # field 22 of proc(5), starttime


def process_alive(pid: int, proc_start: str | None) -> bool:
    """Whether the process that had `pid` (and started at `proc_start`, if known) is still running."""
    if pid <= 0:  # os.kill(0 or -1, ...) would address process groups, not one process.
        return False
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows; do not judge there.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, it just belongs to another user
    fields = _stat(pid)  # None without /proc (macOS): the pid check above is then all we have
    # A killed child that nobody has reaped yet is a zombie: os.kill still finds it, but it is dead.
    if fields is not None and fields[0] in ("Z", "X"):
        return False
    now = process_start(pid)
    return proc_start is None or now is None or now == proc_start

"""How many CPUs this process may use: the size of workers, engine pools and thread counts.

`os.cpu_count()` counts the machine's CPUs, not the ones a job was given: a SLURM job or a container allowed 8 of
64 cores would start 64 workers. This counts the CPUs of the process's affinity mask (what `taskset`, SLURM's
cgroup cpuset and Docker's `--cpuset-cpus` set) and caps it by a cgroup CPU quota (Docker's `--cpus`, Kubernetes'
CPU limits: cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us / cpu.cfs_period_us`, rounded up).
`BENCH_CPUS=N` overrides both.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _read_quota(folder: Path, v2: bool) -> float | None:
    try:
        if v2:
            quota, period = (folder / "cpu.max").read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        quota_us = int((folder / "cpu.cfs_quota_us").read_text())
        return None if quota_us <= 0 else quota_us / int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError, ZeroDivisionError):
        return None


def cgroup_quota(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """CPUs allowed by this process's cgroup CPU quota (may be fractional; the smallest along the cgroup's path
    up to the mount point, since a parent's quota binds its children), or None when there is none."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    folders: list[tuple[Path, bool]] = []
    for line in lines:  # "0::/path" (v2) or "4:cpu,cpuacct:/path" (v1)
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        controllers, rel = parts[1], Path(parts[2].lstrip("/"))
        if controllers == "":
            bases = [(root, True)]
        elif "cpu" in controllers.split(","):
            bases = [(root / name, False) for name in ("cpu,cpuacct", "cpu", "cpuacct,cpu") if (root / name).is_dir()]
        else:
            continue
        for base, v2 in bases:
            folders += [(base / ancestor, v2) for ancestor in [rel, *rel.parents]]
    if not folders:
        folders = [(root, True)]
    quotas = [q for q in (_read_quota(folder, v2) for folder, v2 in folders) if q is not None]
    return min(quotas) if quotas else None


def affinity_cpus() -> int:
    """CPUs in this process's affinity mask (os.cpu_count() where the platform has no affinity call)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def available_cpus() -> int:
    """CPUs this process may use: $BENCH_CPUS, else its affinity mask capped by its cgroup quota (at least 1)."""
    override = os.environ.get("BENCH_CPUS")
    if override:
        try:
            return max(1, int(override))
        except ValueError:
            pass
    count = affinity_cpus()
    quota = cgroup_quota()
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return count


__all__ = ["affinity_cpus", "available_cpus", "cgroup_quota"]

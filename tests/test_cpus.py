"""`bench.cpus`: workers are sized from the CPUs the process may use, not the machine's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import cpus


def _cgroup(tmp_path: Path, lines: str) -> Path:
    proc = tmp_path / "proc_cgroup"
    proc.write_text(lines)
    return proc


def test_v2_quota_is_the_smallest_along_the_path(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    (root / "slurm" / "job1").mkdir(parents=True)
    (root / "cpu.max").write_text("max 100000\n")
    (root / "slurm" / "cpu.max").write_text("1600000 100000\n")  # 16 CPUs for all jobs
    (root / "slurm" / "job1" / "cpu.max").write_text("250000 100000\n")  # 2.5 for this one
    assert cpus.cgroup_quota(root, _cgroup(tmp_path, "0::/slurm/job1\n")) == pytest.approx(2.5)


def test_v2_without_quota_and_v1_quota(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    root.mkdir()
    (root / "cpu.max").write_text("max 100000\n")
    assert cpus.cgroup_quota(root, _cgroup(tmp_path, "0::/\n")) is None
    v1 = tmp_path / "cg1"
    (v1 / "cpu,cpuacct" / "docker" / "abc").mkdir(parents=True)
    (v1 / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us").write_text("300000\n")
    (v1 / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpus.cgroup_quota(v1, _cgroup(tmp_path, "4:cpu,cpuacct:/docker/abc\n3:memory:/x\n")) == pytest.approx(3)
    (v1 / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cpus.cgroup_quota(v1, _cgroup(tmp_path, "4:cpu,cpuacct:/docker/abc\n")) is None


def test_available_cpus_takes_affinity_capped_by_quota_and_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_CPUS", raising=False)
    monkeypatch.setattr(cpus, "affinity_cpus", lambda: 8)
    monkeypatch.setattr(cpus, "cgroup_quota", lambda: 2.5)
    assert cpus.available_cpus() == 3  # a fractional quota rounds up
    monkeypatch.setattr(cpus, "cgroup_quota", lambda: None)
    assert cpus.available_cpus() == 8
    monkeypatch.setenv("BENCH_CPUS", "5")
    assert cpus.available_cpus() == 5


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no affinity call on this platform")
def test_affinity_mask_is_counted_not_the_machine() -> None:
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(before)})
        assert cpus.affinity_cpus() == 1
    finally:
        os.sched_setaffinity(0, before)

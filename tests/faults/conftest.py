"""The fault-injection suite's shared pieces: the ledger behind the closing table, runs of the real CLI with a
fault armed, a ladder whose games replay move for move, and a leak check for engine processes.

Every test that injects a fault wraps it in `ledger.fault(name)`: the fault counts as injected on entry and as
survived only when the test's checks pass; the test sets `lost` (records lost or kept twice) for run faults. At
the end of the session the table of faults injected / survived / records lost is printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conftest import write_det_conf
from tests.icl.conftest import smol_dir, tiny_dir  # noqa: F401 (session fixtures: the tiny LM for icl runs)

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


@dataclass
class Outcome:
    lost: int = 0
    """Records (metrics records and games) lost or kept twice; anything but 0 is a failure."""


class Ledger:
    """Faults injected, survived and records lost, by fault kind."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, int]] = defaultdict(lambda: {"injected": 0, "survived": 0, "lost": 0})

    @contextmanager
    def fault(self, name: str) -> Iterator[Outcome]:
        row = self.rows[name]
        row["injected"] += 1
        outcome = Outcome()
        try:
            yield outcome
        finally:
            row["lost"] += outcome.lost
        if outcome.lost == 0:
            row["survived"] += 1

    def table(self) -> list[str]:
        width = max([len(name) for name in self.rows] + [5])
        lines = [f"{'fault':<{width}}  injected  survived  records lost", "-" * (width + 34)]
        total = {"injected": 0, "survived": 0, "lost": 0}
        for name, row in sorted(self.rows.items()):
            lines.append(f"{name:<{width}}  {row['injected']:>8}  {row['survived']:>8}  {row['lost']:>12}")
            for key in total:
                total[key] += row[key]
        lines.append("-" * (width + 34))
        lines.append(f"{'total':<{width}}  {total['injected']:>8}  {total['survived']:>8}  {total['lost']:>12}")
        return lines


LEDGER = Ledger()


@pytest.fixture
def ledger() -> Ledger:
    return LEDGER


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if LEDGER.rows:
        terminalreporter.section("faults injected / survived / records lost")
        for line in LEDGER.table():
            terminalreporter.write_line(line)


# ---------------------------------------------------------------------------------------------- real runs, CLI


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def bench_cli(args: list[str], cwd: Path, fault: str | None = None, env: dict[str, str] | None = None,
              counts: Path | None = None, timeout: float = 300, module: str = "tests.faults.inject") -> Finished:
    """`python -m bench ARGS` (through the injector, which arms `fault`), waited for; never left running."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    full_env.pop("BENCH_FAULT", None)
    if fault:
        full_env["BENCH_FAULT"] = fault
    if counts is not None:
        full_env["BENCH_FAULT"] = "count:all:0"
        full_env["BENCH_FAULT_COUNTS"] = str(counts)
    start = time.perf_counter()
    proc = subprocess.Popen([PYTHON, "-m", module, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=full_env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"bench {' '.join(args)} hung past {timeout}s:\n{err[-2000:]}")
    return Finished(proc.returncode, out, err, time.perf_counter() - start)


EVAL = ["eval=quick", "eval.games=2", "eval.max_plies=40", "eval.allow_uncalibrated_rules=true", "eval.concurrency=2", "progress=false"]
"""Evaluations the fault tests play: one paired game per evaluation point, games capped at 40 plies."""


@pytest.fixture(scope="session")
def det_conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """conf/ with ladder `det` (`tests.conftest.write_det_conf`), calibrated for the games in `EVAL`."""
    return write_det_conf(tmp_path_factory.mktemp("det"), EVAL)


# ------------------------------------------------------------------------------------------- engine processes


def processes_tagged(tag: str) -> list[int]:
    """Pids of live processes whose environment carries `BENCH_FAULT_TAG=tag` (a run and every child it started,
    orphans included: a killed run's engines are reparented, but keep the environment they inherited)."""
    needle = f"BENCH_FAULT_TAG={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def new_tag() -> str:
    return uuid.uuid4().hex[:12]


def wait_for_no_processes(tag: str, timeout: float = 20.0) -> list[int]:
    """Live processes still tagged after `timeout` seconds (engines quit on EOF once their parent is gone)."""
    deadline = time.time() + timeout
    while (left := processes_tagged(tag)) and time.time() < deadline:
        time.sleep(0.2)
    return left

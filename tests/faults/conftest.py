"""The fault-injection suite's shared pieces: the ledger behind the closing table, runs of the real CLI with a
fault armed, a ladder whose games replay move for move, and a leak check for engine processes.

Every test that injects a fault wraps it in `ledger.fault(name)`: the fault counts as injected on entry and as
survived only when the test's checks pass; the test sets `lost` (records lost or kept twice) for run faults and
says how the fault was survived (`Outcome.how`: exact, inexact within asserted bounds, or by one clear error
message). At the end of the session the table of faults injected, survived exact / inexact / by error message,
and lost is printed (`COLUMNS`).
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
    """How one injected fault ended; the test fills it in inside `ledger.fault(name)`."""

    lost: int = 0
    """Records (metrics records and games) lost or kept twice; anything but 0 is a failure."""
    how: str = "exact"
    """`exact`: the run ended (directly or after `resume=true`) with the records the test checks in full, equal to
    an uninterrupted run's where there is one; `inexact`: bookkeeping exact and the content differs from the
    uninterrupted run only where and by as much as the test asserts (`reason` says what); `error message`: the
    harness refused or stopped with one clear error line and left every file intact; `unbounded`: bookkeeping
    exact but the content differs in ways no check bounds (counted as lost, with `reason`)."""
    reason: str = ""

    def by_error_message(self) -> None:
        self.how = "error message"

    def inexact(self, reason: str) -> None:
        self.how, self.reason = "inexact", reason

    def unbounded(self, reason: str) -> None:
        self.how, self.reason = "unbounded", reason


COLUMNS = ("exact", "inexact", "error message", "lost")
"""The ledger's columns: every injected fault lands in exactly one. `lost` is a fault the run did not survive: a
failed check, a record lost or kept twice, or content that differs beyond what the test bounds (an xfail on
content counts here, never as survived)."""


class Ledger:
    """Faults injected, by fault kind and by how they ended (`COLUMNS`), and records lost."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, int]] = defaultdict(
            lambda: {"injected": 0, **{c: 0 for c in COLUMNS}, "records lost": 0})
        self.notes: dict[str, set[str]] = defaultdict(set)

    @contextmanager
    def fault(self, name: str) -> Iterator[Outcome]:
        row = self.rows[name]
        row["injected"] += 1
        outcome = Outcome()
        survived = False
        try:
            yield outcome
            survived = outcome.lost == 0 and outcome.how != "unbounded"
        finally:
            row["records lost"] += outcome.lost
            row[outcome.how if survived else "lost"] += 1
            if outcome.reason:
                self.notes[name].add(f"{'survived, ' if survived else 'lost: '}{outcome.how}: {outcome.reason}")

    def table(self) -> list[str]:
        keys = ("injected", *COLUMNS, "records lost")
        heads = ("injected", "survived exact", "survived inexact", "survived by error message", "lost",
                 "records lost")
        width = max([len(name) for name in self.rows] + [5])
        header = f"{'fault':<{width}}  " + "  ".join(heads)
        lines = [header, "-" * len(header)]
        total = dict.fromkeys(keys, 0)

        def row_line(name: str, row: dict[str, int]) -> str:
            return f"{name:<{width}}  " + "  ".join(f"{row[k]:>{len(h)}}" for k, h in zip(keys, heads))

        for name, row in sorted(self.rows.items()):
            lines.append(row_line(name, row))
            for key in keys:
                total[key] += row[key]
        lines += ["-" * len(header), row_line("total", total)]
        for name, notes in sorted(self.notes.items()):
            lines += [f"{name}: {note}" for note in sorted(notes)]
        return lines


LEDGER = Ledger()


@pytest.fixture
def ledger() -> Ledger:
    return LEDGER


LEDGER_FILE = "BENCH_FAULT_LEDGER"
"""Environment variable naming a JSON file that carries the ledger from one pytest session to the next (CI runs
the default suite, then the slow one): each session adds its rows to the file's and prints the sum."""


def _carry_over(path: Path) -> None:
    import json

    if path.exists():
        saved = json.loads(path.read_text())
        for name, row in saved["rows"].items():
            for key, value in row.items():
                LEDGER.rows[name][key] += value
        for name, notes in saved["notes"].items():
            LEDGER.notes[name].update(notes)
    path.write_text(json.dumps({"rows": LEDGER.rows, "notes": {k: sorted(v) for k, v in LEDGER.notes.items()}}))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    carried = os.environ.get(LEDGER_FILE)
    if carried:
        _carry_over(Path(carried))
    if LEDGER.rows:
        title = "faults injected: survived exact / inexact / by error message, lost"
        terminalreporter.section(title + (" (every session so far)" if carried else ""))
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
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)  # the caller's kept
    full_env = {**os.environ, "PYTHONPATH": path, **(env or {})}
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

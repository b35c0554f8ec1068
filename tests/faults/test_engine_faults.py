"""Stockfish misbehaving inside a real run: killed mid-game, hanging (no `bestmove`), answering garbage.

Every Stockfish process of the run (rungs and adjudicator) is real Stockfish behind `engine_proxy.py`, which
misbehaves once, at the N-th search of the run. The run must restart the engine within `stockfish.move_timeout`,
replay that game from its start, count it once, log the event in the record (`engine_restarts`, `events`),
finish the evaluation with every game in games.pgn exactly once, and leave no engine process behind. The rlvr
verifiers' engine pool meets the same faults directly: it replaces the engine, asks again and scores exactly as
a pool that never failed; an engine that fails every time is one BenchError.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import pytest

from bench.players import find_stockfish
from bench.results import RunDir
from bench.run import run
from tests.faults.conftest import Ledger, new_tag, wait_for_no_processes

pytestmark = pytest.mark.stockfish

PROXY = Path(__file__).with_name("engine_proxy.py")
TIMEOUT = 4.0
"""stockfish.move_timeout for these runs: a hung engine is declared dead after this many seconds."""
EXPECTED = {"die": ("EngineTerminatedError", "EngineError"), "hang": ("no answer within",), "garbage": ("EngineError", "CancelledError", "no answer within")}
"""What the event says for each fault: python-chess's error, or the watchdog's words for a hang (python-chess
leaves an `analyse` whose `bestmove` is garbage waiting forever: the watchdog ends it)."""


def faulty_stockfish(folder: Path, mode: str, at: int) -> Path:
    """An executable that starts real Stockfish behind the proxy; the `at`-th search of the run misbehaves."""
    script = folder / f"stockfish-{mode}"
    state = folder / f"{mode}.count"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} {PROXY} {find_stockfish()} {state} {mode} {at}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.mark.parametrize("mode", ["die", "hang", "garbage"])
def test_engine_fault_mid_game_is_restarted_replayed_counted_once_and_logged(
        mode: str, make_cfg, tmp_path: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    tag = new_tag()
    monkeypatch.setenv("BENCH_FAULT_TAG", tag)  # every engine this run starts carries it: the leak check
    engine = faulty_stockfish(tmp_path, mode, at=5)  # games to mate without an adjudicator: ~10 searches in all
    cfg = make_cfg("learner=random", "budget.unit=games", "budget.amount=1", "budget.evals=1",
                   "budget.eval_at_start=false", "eval.games=4", "eval.max_plies=60", "eval.allow_uncalibrated_rules=true", f"stockfish.path={engine}",
                   f"stockfish.move_timeout={TIMEOUT}")
    run_dir = tmp_path / "run"
    with ledger.fault(f"stockfish {'killed' if mode == 'die' else mode} mid-game") as outcome:
        start = time.perf_counter()
        run(cfg, run_dir=run_dir)
        seconds = time.perf_counter() - start
        assert int((tmp_path / f"{mode}.count").read_text()) >= 5, "the fault never fired"
        (record,) = RunDir(run_dir).read_metrics()
        games = RunDir(run_dir).read_games()
        indices = sorted(int(g.headers["GameIndex"]) for g in games)
        outcome.lost = abs(len(set(indices)) - 4) + len(indices) - len(set(indices))
        assert indices == [0, 1, 2, 3] and record["games"] == 4
        assert all(g.headers["Result"] in ("1-0", "0-1", "1/2-1/2") for g in games)
        assert record["engine_restarts"] == 1 and len(record["events"]) == 1
        event = record["events"][0]
        assert "replaying" in event and any(name in event for name in EXPECTED[mode]), event
        assert seconds < 120 + (2 * TIMEOUT if mode == "hang" else 0)
        assert wait_for_no_processes(tag) == [], "an engine process outlived the run"


def test_an_engine_that_never_recovers_stops_the_run_with_one_clear_error(make_cfg, tmp_path: Path,
                                                                          ledger: Ledger) -> None:
    """A binary that dies on every search: after the bounded replays, one BenchError naming the game; the
    records finished before it stay as they were."""
    from bench.errors import BenchError

    broken = tmp_path / "stockfish-broken"  # each process its own counter ($$): every one dies at its first search
    broken.write_text(f"#!/bin/sh\nexec {sys.executable} {PROXY} {find_stockfish()} {tmp_path}/c.$$ die 1\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    cfg = make_cfg("learner=random", "budget.unit=games", "budget.amount=1", "budget.evals=1",
                   "budget.eval_at_start=false", "eval.games=4", f"stockfish.path={broken}", "stockfish.move_timeout=4")
    # 4 games: the second pair meets eps80, the first engine rung (no adjudicator searches under the default rules)
    with ledger.fault("stockfish dead on every search") as outcome:
        outcome.by_error_message()
        with pytest.raises(BenchError, match=r"game \d+ failed 4 times"):
            run(cfg, run_dir=tmp_path / "run")
        assert RunDir(tmp_path / "run").read_metrics() == []
        assert not os.path.exists(tmp_path / "run" / "checkpoint.pt")


def rlvr_eval_rollouts() -> list[object]:
    """Finished one-move rollouts from the start position, each judged by Stockfish (`eval`, 200 nodes)."""
    import chess

    from bench.learners.rlvr.config import GeneratorConfig
    from bench.learners.rlvr.tasks import Task
    from bench.learners.rlvr.verifiers import Finished

    start = chess.Board()
    task = Task(fen=start.fen(), verifier="eval", horizon=1, opponent="random", generator="g")
    params = GeneratorConfig(verifier="eval", eval_nodes=200)
    items = []
    for move in list(start.legal_moves)[:6]:
        end = start.copy()
        end.push(move)
        items.append(Finished(task, params, start, end, chess.WHITE, 1))
    return items


@pytest.mark.parametrize("mode", ["die", "hang", "garbage"])
def test_rlvr_verifier_engine_fault_is_replaced_and_the_rewards_do_not_change(mode: str, tmp_path: Path,
                                                                             ledger: Ledger) -> None:
    """The 3rd verification misbehaves: the pool replaces the engine and asks again; each verification starts a
    new game in the engine, so the rewards equal those of a pool that never failed."""
    from bench.learners.rlvr.verifiers import EnginePool, Verifiers

    items = rlvr_eval_rollouts()
    clean = Verifiers(EnginePool(1))
    faulty = Verifiers(EnginePool(1, str(faulty_stockfish(tmp_path, mode, at=3)), timeout=TIMEOUT))
    try:
        expected = clean.score(items)
        with ledger.fault(f"rlvr verifier engine {'killed' if mode == 'die' else mode}"):
            start = time.perf_counter()
            assert faulty.score(items) == expected
            assert faulty.engines.restarts == 1 and time.perf_counter() - start < 30 + TIMEOUT
    finally:
        clean.close()
        faulty.close()


def test_an_rlvr_verifier_engine_that_never_recovers_is_one_clear_error(tmp_path: Path, ledger: Ledger) -> None:
    from bench.errors import BenchError
    from bench.learners.rlvr.verifiers import EnginePool, Verifiers

    broken = tmp_path / "stockfish-broken"  # each process its own counter ($$): every one dies at its first search
    broken.write_text(f"#!/bin/sh\nexec {sys.executable} {PROXY} {find_stockfish()} {tmp_path}/c.$$ die 1\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    verifiers = Verifiers(EnginePool(1, str(broken), timeout=TIMEOUT))
    try:
        with ledger.fault("rlvr verifier engine dead on every search") as outcome:
            outcome.by_error_message()
            with pytest.raises(BenchError, match="verifier engine failed 3 times in a row"):
                verifiers.score(rlvr_eval_rollouts())
            assert verifiers.engines.restarts == 3
    finally:
        verifiers.close()

"""`bench-uci`: trained agents and ladder rungs as UCI engines, driven by python-chess's own engine client."""

from __future__ import annotations

import io
import sys
import threading
import time
from pathlib import Path
from typing import Any

import chess
import chess.engine
import pytest
import torch

from bench.export import export_network, load_network
from bench.players import RandomPlayer, SearchLimit
from bench.results import save_checkpoint
from bench.uci import LimitedMcts, UciServer, parse_go, q_to_cp, search_limit

from tests.conftest import compose_config

MATE_IN_ONE = "6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - 0 1"  # Ra8#


# ----------------------------------------------------------------------------------------- go and scores
def test_go_arguments_become_limits() -> None:
    board = chess.Board()
    assert search_limit(["nodes", "800"], board) == (800, None)
    assert search_limit(["movetime", "250"], board) == (None, 0.25)
    nodes, seconds = search_limit(["wtime", "60000", "btime", "1000", "winc", "1000"], board)
    assert nodes is None and seconds == pytest.approx((2000 + 800) / 1000)
    board.push_uci("e2e4")  # black to move: its own clock, and never more than half of it
    assert parse_go(["wtime", "60000", "btime", "1000", "movestogo", "1"], board).seconds == pytest.approx(0.5)
    assert parse_go(["infinite"], board) == SearchLimit(infinite=True)
    assert parse_go(["depth", "5"], board).unlimited


def test_q_to_cp_is_lc0s_odd_monotone_map() -> None:
    assert q_to_cp(0.0) == 0
    assert q_to_cp(0.5) == -q_to_cp(-0.5) and 100 < q_to_cp(0.5) < 200
    assert q_to_cp(0.9) > q_to_cp(0.5) and q_to_cp(1.0) < 200_000


# ------------------------------------------------------------------------------------- the protocol loop
def test_server_answers_the_handshake_and_plays_legal_moves() -> None:
    out = io.StringIO()
    server = UciServer(RandomPlayer(seed=1), "random", out)
    commands = ["uci", "isready", "ucinewgame", "position startpos moves e2e4 e7e5", "go nodes 100", "stop",
                "position fen 7k/8/8/8/8/8/8/K6R w - - 0 1", "go movetime 10", "setoption name Hash value 1",
                "quit"]
    server.serve(io.StringIO("\n".join(commands) + "\n"))
    lines = out.getvalue().splitlines()
    assert lines[:4] == ["id name bench random", "id author bench", "uciok", "readyok"]
    best = [line.split()[1] for line in lines if line.startswith("bestmove")]
    after_e5 = chess.Board()
    after_e5.push_uci("e2e4")
    after_e5.push_uci("e7e5")
    assert chess.Move.from_uci(best[0]) in after_e5.legal_moves
    assert chess.Move.from_uci(best[1]) in chess.Board("7k/8/8/8/8/8/8/K6R w - - 0 1").legal_moves
    assert not any("unknown command" in line for line in lines)


def test_bad_position_is_reported_not_fatal() -> None:
    out = io.StringIO()
    server = UciServer(RandomPlayer(), "random", out)
    server.serve(io.StringIO("position startpos moves e2e5\ngo\nquit\n"))
    assert "info string bad position" in out.getvalue()
    assert "bestmove" in out.getvalue()


def test_go_infinite_waits_for_stop_even_for_a_player_without_search() -> None:
    out = io.StringIO()
    server = UciServer(RandomPlayer(), "random", out)
    server.handle("go infinite")
    time.sleep(0.2)
    assert "bestmove" not in out.getvalue()  # UCI: no bestmove before `stop` after `go infinite`
    server.handle("stop")
    assert "bestmove" in out.getvalue()


# -------------------------------------------------------------------------------- a trained mcts checkpoint
NET = ["learner.blocks=2", "learner.channels=8", "learner.policy_head=conv"]
"""Not the default network (1x16, attention head): the checkpoint's own architecture must be used."""


@pytest.fixture(scope="module")
def mcts_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run checkpoint of an mcts learner trained in-process for a few self-play rounds on a non-default net."""
    from bench.compute import ComputeMeter
    from bench.learners import LearnerContext
    from bench.learners.mcts import MctsLearner

    cfg = compose_config(["learner=mcts", "ladder=quick", *NET, "learner.in_process=true", "runtime.workers=1",
                          "learner.games_per_worker=8", "learner.min_replay=64", "learner.batch_size=32",
                          "learner.simulations=8", "learner.fast_simulations=4"])
    context = LearnerContext(meter=ComputeMeter(), seed=0, runtime=cfg.runtime, stockfish=cfg.stockfish,
                             progress=False)
    learner = MctsLearner(cfg.learner, context)
    try:
        for _ in range(60):
            learner.improve()
            if learner.trainer.steps >= 2:
                break
        assert learner.trainer.steps >= 2, "the fixture's learner did not train"
        state = learner.state_dict()
    finally:
        learner.close()
    path = tmp_path_factory.mktemp("run") / "checkpoint.pt"
    save_checkpoint(path, {"learner": state, "learner_name": "mcts"})
    return path


@pytest.fixture(scope="module")
def limited(mcts_checkpoint: Path) -> LimitedMcts:
    from bench.uci import load_player

    player, _, _ = load_player(compose_config(["learner=mcts", f"checkpoint={mcts_checkpoint}"]))
    assert isinstance(player, LimitedMcts)
    return player


def test_checkpoint_network_is_rebuilt_from_its_own_config(limited: LimitedMcts) -> None:
    net = limited.player.evaluator.net
    assert (net.blocks, net.channels, net.policy_head) == (2, 8, "conv")


def test_node_limit_is_exact_and_info_has_depth_score_nodes_pv(limited: LimitedMcts) -> None:
    infos: list[Any] = []
    result = limited.play_limited(chess.Board(), SearchLimit(nodes=60), threading.Event(), infos.append)
    assert result.nodes == 60 and infos[-1].nodes == 60
    assert infos[-1].pv and infos[-1].pv[0] == result.move and infos[-1].depth == len(infos[-1].pv)
    assert infos[-1].score_cp is not None


def test_time_limit_is_honoured(limited: LimitedMcts) -> None:
    short = limited.play_limited(chess.Board(), SearchLimit(seconds=0.05), threading.Event())
    long = limited.play_limited(chess.Board(), SearchLimit(seconds=0.6), threading.Event())
    # The deadline is checked between search steps (a few leaves, about a millisecond each). The slack above it allows
    # one stalled step on a shared 2-core runner: 0.25 s once failed with 0.898 s for a 0.6 s limit under `make test`,
    # and passed alone.
    slack = 0.5
    assert 0.05 <= short.seconds < 0.05 + slack and 0.6 <= long.seconds < 0.6 + slack
    assert long.nodes > short.nodes


def test_mate_is_found_and_reported(limited: LimitedMcts) -> None:
    infos: list[Any] = []
    result = limited.play_limited(chess.Board(MATE_IN_ONE), SearchLimit(nodes=400), threading.Event(), infos.append)
    assert result.move == chess.Move.from_uci("a1a8")
    assert infos[-1].mate == 1 and infos[-1].score_cp is None


def test_stop_ends_an_infinite_search_within_100_ms(mcts_checkpoint: Path) -> None:
    from bench.uci import load_player

    fresh, _, _ = load_player(compose_config(["learner=mcts", f"checkpoint={mcts_checkpoint}"]))  # a cold start
    out = io.StringIO()
    server = UciServer(fresh, "mcts", out)
    server.handle("position startpos moves e2e4")
    server.handle("go infinite")
    time.sleep(0.8)
    assert "bestmove" not in out.getvalue()
    start = time.perf_counter()
    server.handle("stop")
    waited = time.perf_counter() - start
    assert "bestmove" in out.getvalue()
    assert waited < 0.1, f"stop took {waited * 1000:.0f} ms"
    info = [line for line in out.getvalue().splitlines() if line.startswith("info depth")]
    assert info and all(k in info[-1].split() for k in ("depth", "score", "nodes", "nps", "time", "pv"))


def _engine(*args: str) -> chess.engine.SimpleEngine:
    return chess.engine.SimpleEngine.popen_uci([sys.executable, "-m", "bench.uci", *args], timeout=120)


def test_python_chess_client_plays_the_checkpoint_with_nodes_and_time_limits(mcts_checkpoint: Path) -> None:
    engine = _engine(f"checkpoint={mcts_checkpoint}")  # the learner comes from the checkpoint
    try:
        assert engine.id["name"].startswith("bench mcts")
        board = chess.Board()
        for nodes in (30, 90):
            result = engine.play(board, chess.engine.Limit(nodes=nodes), info=chess.engine.INFO_ALL)
            assert result.info["nodes"] == nodes and result.move in board.legal_moves
            assert "score" in result.info and "pv" in result.info
            board.push(result.move)
        start = time.perf_counter()
        result = engine.play(board, chess.engine.Limit(time=0.5), info=chess.engine.INFO_ALL)
        elapsed = time.perf_counter() - start
        assert 0.5 <= elapsed < 0.5 + 0.5 and result.info["nodes"] > 0
        with engine.analysis(board) as analysis:  # go infinite ... stop
            time.sleep(0.5)
            start = time.perf_counter()
            analysis.stop()
            best = analysis.wait()
        assert best.move in board.legal_moves and time.perf_counter() - start < 0.5
        while not board.is_game_over() and board.ply() < 12:  # a game on the clock
            board.push(engine.play(board, chess.engine.Limit(white_clock=5, black_clock=5, white_inc=0.05)).move)
    finally:
        engine.quit()


def test_exported_network_plays_and_loads_without_bench(mcts_checkpoint: Path, tmp_path: Path) -> None:
    safe = export_network(mcts_checkpoint)
    assert safe == mcts_checkpoint.with_name("net.safetensors")
    learner, net, config = load_network(safe)
    assert learner == "mcts" and config["channels"] == 8
    plain = export_network(mcts_checkpoint, tmp_path / "net.pt")
    data = torch.load(plain, weights_only=True)  # no pickled code: tensors, strings and numbers only
    assert data["net_config"] == config and set(data["state_dict"]) == set(net.state_dict())
    engine = _engine(f"checkpoint={safe}", "learner.eval_simulations=8")
    try:
        assert engine.play(chess.Board(), chess.engine.Limit(nodes=20)).move in chess.Board().legal_moves
    finally:
        engine.quit()


# ------------------------------------------------------------------------------------------- other players
def test_checkpoint_of_another_learner_is_one_clear_error(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from bench.uci import main

    checkpoint = tmp_path / "checkpoint.pt"
    save_checkpoint(checkpoint, {"learner": {}, "learner_name": "mcts"})
    with pytest.raises(SystemExit) as exit_:
        main(["learner=random", f"checkpoint={checkpoint}"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "pass learner=mcts" in err and "Traceback" not in err


def test_unknown_rung_is_one_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.uci import main

    with pytest.raises(SystemExit) as exit_:
        main(["rung=nope", "ladder=quick"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "no rung 'nope'" in err and "eps60" in err


@pytest.mark.stockfish
def test_a_rung_served_by_bench_uci_plays_stockfish(tmp_path: Path) -> None:
    from bench.players import find_stockfish

    rung = _engine("rung=eps60", "ladder=quick")
    stockfish = chess.engine.SimpleEngine.popen_uci(find_stockfish())
    try:
        assert rung.id["name"].startswith("bench rung eps60")
        board = chess.Board()
        while not board.is_game_over(claim_draw=True) and board.ply() < 200:
            engine = rung if board.turn == chess.WHITE else stockfish
            board.push(engine.play(board, chess.engine.Limit(nodes=1000)).move)
        assert board.ply() >= 2
    finally:
        rung.quit()
        stockfish.quit()


def test_an_rlvr_checkpoint_plays_its_policy_from_its_own_network(tmp_path: Path) -> None:
    from bench.learners.rlvr.player import PolicyPlayer
    from bench.network import PolicyValueNet
    from bench.uci import load_player

    net = PolicyValueNet(1, 8, value_head="scalar")
    checkpoint = tmp_path / "checkpoint.pt"
    save_checkpoint(checkpoint, {"learner": {"net": net.state_dict(), "net_config": net.config()},
                                 "learner_name": "rlvr"})
    player, close, name = load_player(compose_config(["learner=rlvr", f"checkpoint={checkpoint}"]))
    try:
        assert isinstance(player, PolicyPlayer) and name.startswith("rlvr")
        assert player.net.channels == 8 and player.play(chess.Board()).move in chess.Board().legal_moves
    finally:
        close()

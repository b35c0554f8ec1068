"""`python -m bench.uci`: any player as a UCI engine, driven by python-chess's own engine client."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import chess
import chess.engine
import pytest

from bench.players import RandomPlayer
from bench.results import save_checkpoint
from bench.uci import UciServer, search_limit


def test_server_answers_the_handshake_and_plays_legal_moves() -> None:
    out = io.StringIO()
    server = UciServer(RandomPlayer(seed=1), "random", out)
    commands = ["uci", "isready", "ucinewgame", "position startpos moves e2e4 e7e5", "go nodes 100", "stop",
                "position fen 7k/8/8/8/8/8/8/K6R w - - 0 1", "go movetime 10", "quit"]
    server.serve(io.StringIO("\n".join(commands) + "\n"))
    lines = out.getvalue().splitlines()
    assert lines[:4] == ["id name bench random", "id author bench", "uciok", "readyok"]
    best = [line.split()[1] for line in lines if line.startswith("bestmove")]
    after_e5 = chess.Board()
    after_e5.push_uci("e2e4")
    after_e5.push_uci("e7e5")
    assert chess.Move.from_uci(best[0]) in after_e5.legal_moves
    assert chess.Move.from_uci(best[1]) in chess.Board("7k/8/8/8/8/8/8/K6R w - - 0 1").legal_moves


def test_bad_position_is_reported_not_fatal() -> None:
    out = io.StringIO()
    server = UciServer(RandomPlayer(), "random", out)
    server.serve(io.StringIO("position startpos moves e2e5\ngo\nquit\n"))
    assert "info string bad position" in out.getvalue()
    assert "bestmove" in out.getvalue()


def test_search_limit_reads_nodes_movetime_and_clock() -> None:
    board = chess.Board()
    assert search_limit(["nodes", "800"], board) == (800, None)
    assert search_limit(["movetime", "250"], board) == (None, 0.25)
    nodes, seconds = search_limit(["wtime", "60000", "btime", "1000", "winc", "1000"], board)
    assert nodes is None and seconds == pytest.approx((2000 + 800) / 1000)


def _engine(*args: str) -> chess.engine.SimpleEngine:
    return chess.engine.SimpleEngine.popen_uci([sys.executable, "-m", "bench.uci", "ladder=quick", *args], timeout=60)


def test_python_chess_client_plays_a_game_against_a_checkpointed_player(tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint.pt"
    save_checkpoint(checkpoint, {"learner": {"steps": 3}, "learner_name": "random"})
    engine = _engine("learner=random", f"checkpoint={checkpoint}")
    try:
        assert engine.id["name"] == "bench random"
        board = chess.Board()
        while not board.is_game_over() and board.ply() < 40:
            limit = chess.engine.Limit(nodes=50) if board.ply() % 2 else chess.engine.Limit(white_clock=30, black_clock=30)
            board.push(engine.play(board, limit).move)
        assert board.ply() == 40 or board.is_game_over()
    finally:
        engine.quit()


def test_checkpoint_of_another_learner_is_one_clear_error(tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint.pt"
    save_checkpoint(checkpoint, {"learner": {}, "learner_name": "mcts"})
    result = subprocess.run([sys.executable, "-m", "bench.uci", "learner=random", f"checkpoint={checkpoint}"],
                            capture_output=True, text=True, input="quit\n", timeout=60)
    assert result.returncode == 2
    assert "pass learner=mcts" in result.stderr and "Traceback" not in result.stderr

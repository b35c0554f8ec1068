"""Task files (EPD/FEN), position sources and the committed task sets, checked by the rules."""

from __future__ import annotations

import random
from pathlib import Path

import chess
import pytest

from bench.config import CONF_DIR
from bench.errors import BenchError
from bench.learners.rlvr.make_tasks import mate_in_one_positions
from bench.learners.rlvr.sources import (
    EndgameSource,
    LadderGamesSource,
    MateInOneSource,
    RandomPlaySource,
    ReservoirSource,
    mating_moves,
    parse_material,
    random_endgame,
)
from bench.learners.rlvr.tasks import load_task_file, parse_task_line, write_epd

DEFAULTS = {"verifier": "result", "horizon": 5, "opponent": "random", "generator": "file"}


def test_fen_and_epd_lines_with_overrides() -> None:
    fen = parse_task_line("rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1", "f:1", DEFAULTS)
    assert fen.verifier == "result" and fen.horizon == 5 and chess.Board(fen.fen).turn == chess.BLACK
    epd = parse_task_line('6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - bm Ra8#; id "m1"; verifier "mate"; horizon 1;', "f:2",
                          DEFAULTS)
    assert (epd.verifier, epd.horizon, epd.task_id, epd.answers) == ("mate", 1, "m1", ("a1a8",))


@pytest.mark.parametrize(
    "line, words",
    [
        ("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNX w KQkq - 0 1", "malformed"),
        ("not a position at all", "malformed"),
        ("8/8/8/8/8/8/8/8 w - - 0 1", "illegal position"),
        ("6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - bm Rz8#;", "malformed"),
        ('6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - verifier "oracle";', "unknown verifier"),
        ("6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - horizon 0;", "horizon must be at least 1"),
        ("R5k1/5ppp/8/8/8/8/5PPP/6K1 b - - 0 1", "the game is already over"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, line: str, words: str) -> None:
    path = tmp_path / "tasks.epd"
    path.write_text("# header\n\n4k3/8/8/8/8/8/8/4K2R w K - 0 1\n" + line + "\n")
    with pytest.raises(BenchError, match=rf"tasks.epd:4: {words}"):
        load_task_file(path, DEFAULTS)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="does not exist"):
        load_task_file(tmp_path / "nope.epd", DEFAULTS)
    (tmp_path / "empty.epd").write_text("# nothing\n")
    with pytest.raises(BenchError, match="holds no tasks"):
        load_task_file(tmp_path / "empty.epd", DEFAULTS)


def test_committed_mate_in_one_set_is_correct_by_the_rules() -> None:
    tasks = load_task_file(CONF_DIR / "tasks" / "mate_in_one.epd", DEFAULTS)
    assert len(tasks) == 200
    for task in tasks:
        board = task.board()
        assert task.verifier == "mate" and task.horizon == 1
        assert sorted(m.uci() for m in mating_moves(board)) == sorted(task.answers)


def test_generated_files_round_trip(tmp_path: Path) -> None:
    rows = mate_in_one_positions(5, seed=3)
    assert write_epd(tmp_path / "m.epd", rows, "made by a test") == 5
    tasks = load_task_file(tmp_path / "m.epd", DEFAULTS)
    assert [chess.Board(t.fen).epd() for t in tasks] == [b.epd() for b, _ in rows]  # EPD keeps no clocks


def test_sources_make_legal_positions() -> None:
    rng = random.Random(0)
    for _ in range(20):
        board = random_endgame(rng, "KRvK")
        assert board.is_valid() and not board.is_game_over()
        assert len(board.pieces(chess.ROOK, board.turn)) == 1
        assert mating_moves(MateInOneSource(4, 60, 100).sample(rng))
        assert RandomPlaySource(2, 10).sample(rng).is_valid()


def test_impossible_generators_fail_clearly_not_hang() -> None:
    with pytest.raises(BenchError, match="malformed"):
        parse_material("KQ-K")
    with pytest.raises(BenchError, match="exactly one king"):
        parse_material("QvK")
    # a bare-kings endgame is always over (insufficient material): bounded tries, then a clear error
    with pytest.raises(BenchError, match="could not place endgame material 'KvK' legally in 30 tries"):
        EndgameSource("KvK", 30).sample(random.Random(0))


def test_reservoir_and_ladder_games_fall_back_to_random_play(tmp_path: Path) -> None:
    rng = random.Random(0)
    reservoir = ReservoirSource(3, RandomPlaySource(2, 4))
    assert reservoir.sample(rng).is_valid()  # empty: random play
    for i in range(10):
        reservoir.add(chess.Board().fen() if i % 2 else random_endgame(rng, "KQvK").fen(), rng)
    assert len(reservoir.fens) == 3 and reservoir.seen == 10
    games = LadderGamesSource(tmp_path, RandomPlaySource(2, 4))
    assert games.sample(rng).is_valid()
    (tmp_path / "games.pgn").write_text('[Event "x"]\n[Result "*"]\n\n1. e4 e5 2. Nf3 *\n\n')
    fens = {games.sample(rng).fen() for _ in range(30)}
    assert len(fens) == 3

"""Games and matches against real Stockfish: openings, adjudication, PGN headers, engine death, concurrency in
threads and in processes."""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import chess
import chess.pgn
import pytest

from bench import match_pool
from bench.errors import BenchError
from bench.games import (GameRules, GameSpec, Parallel, choose_parallel, game_from_wire, game_to_wire, load_openings,
                         paired_specs, parse_openings, play_game, play_match, thread_only, white_score)
from bench.players import EngineSettings, MoveResult, PlayerBase, RandomPlayer, StockfishPlayer

PARALLEL: list[Parallel] = ["threads", "processes"]


def test_default_openings_are_legal_and_named() -> None:
    openings = load_openings("default")
    assert len(openings) >= 10
    assert len({o.name for o in openings}) == len(openings)
    for opening in openings:
        assert opening.board().is_valid()


def test_bad_opening_line_names_file_and_line() -> None:
    with pytest.raises(BenchError, match="suite.txt:2: illegal or unparsable move 'Ke5'"):
        parse_openings("ok: e4 e5\nbad: e4 Ke5\n", "suite.txt")
    with pytest.raises(BenchError, match="no openings"):
        parse_openings("# nothing\n", "empty.txt")
    with pytest.raises(BenchError, match="not found"):
        load_openings("no-such-suite")


def test_paired_specs_swap_colours_on_the_same_opening() -> None:
    openings = load_openings("default")
    specs = paired_specs("a", "b", openings, 3, seed=1)
    assert [(s.white, s.black) for s in specs] == [("a", "b"), ("b", "a")] * 3
    assert specs[0].opening == specs[1].opening != specs[2].opening
    assert len({s.seed for s in specs}) == 6


class Blunderer(PlayerBase):
    """Returns an illegal move every time: the game loop must replace it and count a forfeit."""

    name = "blunderer"

    def play(self, board: chess.Board) -> MoveResult:
        return MoveResult(move=chess.Move.from_uci("a1a8"))


def test_illegal_moves_are_forfeits_counted_in_headers() -> None:
    rules = GameRules(max_plies=20, adjudicate=False)
    opening = load_openings("start")[0]
    game = play_game(Blunderer(), RandomPlayer(seed=1), opening, rules, None, seed=5)
    assert game.headers["Termination"] == "ply_cap" and game.headers["Result"] == "1/2-1/2"
    assert int(game.headers["WhiteForfeits"]) == 10 and int(game.headers["BlackForfeits"]) == 0
    replayed = chess.pgn.read_game(io.StringIO(str(game)))
    assert len(list(replayed.mainline_moves())) == 20


@pytest.mark.stockfish
def test_adjudication_ends_lopsided_games_and_writes_the_rules() -> None:
    rules = GameRules(max_plies=200, adjudication_nodes=500)
    from bench.games import Adjudicator

    adjudicator = Adjudicator(500)
    try:
        with StockfishPlayer("sf", EngineSettings(nodes=1000)) as sf:
            game = play_game(sf, RandomPlayer(seed=2), load_openings("default")[0], rules, adjudicator, seed=3)
    finally:
        adjudicator.close()
    assert game.headers["Result"] == "1-0"
    assert game.headers["Termination"] in ("adjudication_win", "checkmate")
    assert game.headers["Rules"] == rules.describe()
    board = game.end().board()
    assert board.ply() == int(game.headers["PlyCount"])


class Killer(StockfishPlayer):
    """Kills its own engine process on its fifth move, once per match: the match must replay that game. The flag is
    a file, so one kill happens whether the games run in threads or in processes."""

    def __init__(self, flag: Path, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flag = flag

    def play(self, board: chess.Board) -> MoveResult:
        if board.ply() >= 8:
            try:
                os.close(os.open(self.flag, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                os.kill(self.engine.protocol.transport.get_pid(), signal.SIGKILL)
        return super().play(board)


@pytest.mark.stockfish
@pytest.mark.parametrize("parallel", PARALLEL)
def test_engine_dying_mid_game_is_restarted_replayed_and_counted_once(parallel: Parallel, tmp_path: Path) -> None:
    flag = tmp_path / "killed"
    openings = load_openings("default")
    specs = paired_specs("killer", "random", openings, 2, seed=9)
    factories = {"killer": lambda: Killer(flag, "killer", EngineSettings(nodes=300)), "random": lambda: RandomPlayer()}
    recorded = []
    games, stats = play_match(specs, factories, GameRules(max_plies=60, adjudication_nodes=300), concurrency=2,
                              on_game=lambda spec, game: recorded.append(spec.index), progress=False,
                              parallel=parallel)
    assert stats.parallel == parallel
    assert flag.exists() and stats.engine_restarts == 1 and "replaying" in stats.events[0]
    assert sorted(recorded) == [0, 1, 2, 3] and len(games) == 4  # each game once
    assert all(white_score(g.headers["Result"]) in (0, 0.5, 1) for g in games)


TIMING = ("WhiteSeconds", "BlackSeconds", "Date")


def same_games(first: list[chess.pgn.Game], second: list[chess.pgn.Game]) -> bool:
    """Equal moves, comments and headers, but for wall-clock figures."""

    def key(game: chess.pgn.Game) -> tuple:
        headers = {k: v for k, v in game.headers.items() if k not in TIMING}
        return headers, [(node.move, node.comment) for node in game.mainline()]

    return [key(g) for g in first] == [key(g) for g in second]


@pytest.mark.stockfish
def test_processes_and_threads_play_the_same_games_in_spec_order() -> None:
    """Seeded ε-mixing, seeded random mover, node-limited full-strength Stockfish: the same games whatever the
    concurrency and wherever they run, returned in spec order."""
    openings = load_openings("default")
    specs = paired_specs("sf", "random", openings, 3, seed=4)
    factories = {"sf": lambda: StockfishPlayer("sf", EngineSettings(nodes=200, epsilon=0.5)),
                 "random": lambda: RandomPlayer()}
    rules = GameRules(max_plies=80, adjudication_nodes=200)
    recorded: list[tuple[int, int, str]] = []

    def on_game(spec: GameSpec, game: chess.pgn.Game) -> None:
        recorded.append((spec.index, os.getpid(), threading.current_thread().name))

    played = {}
    for parallel, concurrency in (("threads", 1), ("threads", 2), ("processes", 2), ("processes", 3)):
        played[parallel, concurrency], stats = play_match(specs, factories, rules, concurrency=concurrency,
                                                          on_game=on_game, progress=False, parallel=parallel)
        assert stats.games == len(specs) and stats.parallel == parallel
    for games in played.values():
        assert [g.headers["GameIndex"] for g in games] == [str(s.index) for s in specs]
        assert same_games(games, played["threads", 1])
    assert len({str(g.mainline_moves()) for g in played["threads", 1]}) == len(specs)  # not one game six times
    # every game reached the callback once per match, in this process (threads: from a worker thread)
    assert sorted(i for i, _, _ in recorded) == sorted([s.index for s in specs] * 4)
    assert {pid for _, pid, _ in recorded} == {os.getpid()}
    assert {name for _, _, name in recorded[-2 * len(specs):]} == {threading.main_thread().name}


def test_game_wire_round_trip_keeps_headers_moves_and_comments() -> None:
    rules = GameRules(max_plies=12, adjudicate=False)
    game = play_game(Blunderer(), RandomPlayer(seed=1), load_openings("default")[0], rules, None, seed=5)
    game.comment = "a {braced} comment"
    again = game_from_wire(pickle.loads(pickle.dumps(game_to_wire(game))))
    assert str(again) == str(game) and again.headers == game.headers
    assert [n.comment for n in again.mainline()] == [n.comment for n in game.mainline()]


class Failing(PlayerBase):
    """A random mover that raises in its `fail_at`-th game, or exits its process there (a crash)."""

    def __init__(self, fail_at: int, how: str = "raise") -> None:
        self.name, self.games, self.fail_at, self.how = "failing", 0, fail_at, how
        self.rng = random.Random(0)

    def new_game(self, seed: int) -> None:
        self.games += 1
        self.rng = random.Random(seed)

    def play(self, board: chess.Board) -> MoveResult:
        if self.games == self.fail_at:
            if self.how == "exit":
                os._exit(3)
            raise ValueError(f"failing in game {self.games}")
        return MoveResult(move=self.rng.choice(list(board.legal_moves)))


@pytest.mark.parametrize("parallel", PARALLEL)
def test_a_failure_stops_the_match_with_the_first_error(parallel: Parallel) -> None:
    specs = paired_specs("failing", "random", load_openings("default"), 10, seed=1)
    factories = {"failing": lambda: Failing(fail_at=2), "random": lambda: RandomPlayer()}
    recorded = []
    with pytest.raises(ValueError, match="failing in game 2") as raised:
        play_match(specs, factories, GameRules(max_plies=40, adjudicate=False), concurrency=2, progress=False,
                   on_game=lambda spec, game: recorded.append(spec.index), parallel=parallel)
    assert 1 <= len(recorded) <= 2  # each worker fails in its second game; nothing is handed out after the error
    if parallel == "processes":
        assert "raised in match-" in "".join(raised.value.__notes__)  # the worker's traceback comes along
    assert multiprocessing.active_children() == []


def test_a_worker_process_that_dies_is_one_clear_error() -> None:
    specs = paired_specs("failing", "random", load_openings("default"), 4, seed=1)
    factories = {"failing": lambda: Failing(fail_at=2, how="exit"), "random": lambda: RandomPlayer()}
    with pytest.raises(BenchError, match=r"match process match-\d died \(exit code 3\) during task \d"):
        play_match(specs, factories, GameRules(max_plies=40, adjudicate=False), concurrency=2, progress=False,
                   parallel="processes")
    assert multiprocessing.active_children() == []


def test_an_error_in_the_callback_stops_the_workers() -> None:
    specs = paired_specs("a", "b", load_openings("default"), 5, seed=1)
    factories = {"a": lambda: RandomPlayer("a"), "b": lambda: RandomPlayer("b")}

    def on_game(spec: GameSpec, game: chess.pgn.Game) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        play_match(specs, factories, GameRules(max_plies=40, adjudicate=False), concurrency=2, progress=False,
                   on_game=on_game, parallel="processes")
    assert multiprocessing.active_children() == []


@thread_only
def shared_player() -> RandomPlayer:
    return RandomPlayer()


class Learnerish:
    @thread_only
    def make_player(self) -> RandomPlayer:
        return RandomPlayer()


def test_auto_plays_in_processes_unless_threads_are_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = {"a": lambda: RandomPlayer()}
    assert choose_parallel("auto", 2, 10, plain) == "processes"
    assert choose_parallel("auto", 1, 10, plain) == "threads"  # one game at a time: nothing to gain
    assert choose_parallel("auto", 2, 1, plain) == "threads"
    assert choose_parallel("auto", 2, 10, {**plain, "b": shared_player}) == "threads"
    assert choose_parallel("auto", 2, 10, {**plain, "b": Learnerish().make_player}) == "threads"
    assert choose_parallel("threads", 2, 10, plain) == "threads"
    monkeypatch.setattr(match_pool, "cuda_initialised", lambda: True)
    assert choose_parallel("auto", 2, 10, plain) == "threads"
    with pytest.raises(BenchError, match="CUDA"):
        choose_parallel("processes", 2, 10, plain)
    with pytest.raises(BenchError, match="use auto, processes or threads"):
        choose_parallel("fork", 2, 10, plain)  # type: ignore[arg-type]


ORPHAN_SCRIPT = """
import os, sys, time
from bench.match_pool import ForkPool

def start():
    open(os.path.join(sys.argv[1], str(os.getpid())), "w").close()

ForkPool(2, start, lambda state, task: time.sleep(60), lambda state: None).run(2, lambda task, result: None)
"""


def test_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    """A run killed mid-match (SIGKILL: no handler runs) leaves no worker process behind."""
    proc = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT, str(tmp_path)])
    try:
        deadline = time.time() + 30
        while len(list(tmp_path.iterdir())) < 2 and time.time() < deadline:
            time.sleep(0.05)
        pids = [int(p.name) for p in tmp_path.iterdir()]
        assert len(pids) == 2
    finally:
        proc.kill()
        proc.wait()
    deadline = time.time() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)


class ThreadCounting(PlayerBase):
    """Wraps a player; each move's comment says how many intra-op threads torch had when it moved."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name = inner, inner.name

    def new_game(self, seed: int) -> None:
        self.inner.new_game(seed)

    def play(self, board: chess.Board) -> MoveResult:
        import torch

        move = self.inner.play(board).move
        return MoveResult(move=move, comment=f"torch_threads={torch.get_num_threads()}")


def test_a_network_player_plays_the_same_games_in_processes_with_one_torch_thread_each() -> None:
    import copy

    import torch

    from bench.learners.mcts.player import MctsPlayer
    from bench.network import PolicyValueNet

    torch.manual_seed(0)
    net = PolicyValueNet(1, 8, "wdl").eval()
    factories = {"mcts": lambda: ThreadCounting(MctsPlayer(copy.deepcopy(net), 8, leaves_per_step=4, seed=0)),
                 "random": lambda: RandomPlayer()}
    specs = paired_specs("mcts", "random", load_openings("default"), 2, seed=3)
    rules = GameRules(max_plies=40, adjudicate=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the parent's pool as a run sets it (runtime.torch_threads); children use 1
    try:
        threads, _ = play_match(specs, factories, rules, concurrency=2, progress=False, parallel="threads")
        processes, stats = play_match(specs, factories, rules, concurrency=2, progress=False)
    finally:
        torch.set_num_threads(before)
    assert stats.parallel == "processes"
    counted = [{n.comment for g in games for n in g.mainline() if n.comment} for games in (threads, processes)]
    assert counted == [{"torch_threads=2"}, {"torch_threads=1"}]
    assert same_games([strip_comments(g) for g in threads], [strip_comments(g) for g in processes])


def strip_comments(game: chess.pgn.Game) -> chess.pgn.Game:
    for node in game.mainline():
        node.comment = ""
    return game

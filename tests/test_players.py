"""Players: UCI exchanges checked without a binary (python-chess's mock transport), and against real Stockfish."""

from __future__ import annotations

import asyncio

import chess
import chess.engine
import pytest

from bench.errors import BenchError
from bench.players import EngineSettings, RandomPlayer, StockfishPlayer, find_stockfish, option_range

UCI_HANDSHAKE = [
    "id name MockFish 15.1",
    "option name Threads type spin default 1 min 1 max 512",
    "option name Hash type spin default 16 min 1 max 33554432",
    "option name Skill Level type spin default 20 min 0 max 20",
    "option name UCI_LimitStrength type check default false",
    "option name UCI_Elo type spin default 1350 min 1350 max 2850",
    "uciok",
]


def _mock_exchange(settings: EngineSettings, board: chess.Board, best: str) -> chess.engine.PlayResult:
    async def main() -> chess.engine.PlayResult:
        protocol = chess.engine.UciProtocol()
        mock = chess.engine.MockTransport(protocol)
        mock.expect("uci", UCI_HANDSHAKE)
        await protocol.initialize()
        options = settings.options(protocol)
        for name, value in options.items():
            if protocol.options[name].default == value:
                continue  # python-chess sends only options that change
            text = str(value).lower() if isinstance(value, bool) else str(value)
            mock.expect(f"setoption name {name} value {text}")
        await protocol.configure(options)
        mock.expect("ucinewgame")
        mock.expect("isready", ["readyok"])
        mock.expect(f"position fen {board.fen()}" if board.move_stack == [] and board.fen() != chess.STARTING_FEN
                    else "position startpos", [])
        mock.expect("go nodes 1000", [f"info depth 5 nodes 1000 score cp 20", f"bestmove {best}"])
        result = await protocol.play(board, settings.limit(), game="g1")
        mock.assert_done()
        return result

    return asyncio.run(main())


def test_uci_elo_rung_sends_limit_strength_and_node_limit_without_a_binary() -> None:
    result = _mock_exchange(EngineSettings(nodes=1000, uci_elo=1600), chess.Board(), "e2e4")
    assert result.move == chess.Move.from_uci("e2e4")


def test_full_strength_rung_turns_limit_strength_off() -> None:
    result = _mock_exchange(EngineSettings(nodes=1000), chess.Board(), "d2d4")
    assert result.move == chess.Move.from_uci("d2d4")


def test_option_ranges_are_read_from_the_engine_not_hard_coded() -> None:
    async def main() -> None:
        protocol = chess.engine.UciProtocol()
        mock = chess.engine.MockTransport(protocol)
        mock.expect("uci", [line.replace("min 1350", "min 1320") for line in UCI_HANDSHAKE])
        await protocol.initialize()
        assert option_range(protocol, "UCI_Elo") == (1320, 2850)  # a Stockfish 16+ range
        EngineSettings(nodes=1, uci_elo=1320).options(protocol)  # accepted there ...

    asyncio.run(main())

    async def old() -> None:
        protocol = chess.engine.UciProtocol()
        mock = chess.engine.MockTransport(protocol)
        mock.expect("uci", UCI_HANDSHAKE)
        await protocol.initialize()
        with pytest.raises(BenchError, match="outside this Stockfish's range 1350-2850"):
            EngineSettings(nodes=1, uci_elo=1320).options(protocol)  # ... refused by 15.1

    asyncio.run(old())


def test_random_player_is_seeded_and_legal() -> None:
    board = chess.Board()
    a, b = RandomPlayer(seed=3), RandomPlayer(seed=3)
    a.new_game(7)
    b.new_game(7)
    for _ in range(20):
        move = a.play(board).move
        assert move == b.play(board).move and move in board.legal_moves
        board.push(move)


def test_missing_stockfish_is_one_clear_line() -> None:
    with pytest.raises(BenchError, match="apt-get install stockfish"):
        find_stockfish("/nonexistent/stockfish")


@pytest.mark.stockfish
def test_real_stockfish_plays_legal_moves_and_epsilon_one_is_random() -> None:
    board = chess.Board()
    with StockfishPlayer("sf", EngineSettings(nodes=500, uci_elo=1350)) as engine:
        engine.new_game(1)
        result = engine.play(board)
        assert result.move in board.legal_moves and result.nodes > 0
    with StockfishPlayer("eps", EngineSettings(nodes=500, epsilon=1.0)) as noisy:
        noisy.new_game(1)
        assert noisy.play(board).nodes == 0  # never asked the engine


@pytest.mark.stockfish
def test_node_limited_stockfish_is_deterministic_across_games() -> None:
    with StockfishPlayer("sf", EngineSettings(nodes=2000)) as engine:
        moves = []
        for _ in range(2):
            engine.new_game(0)
            board = chess.Board()
            line = []
            for _ in range(8):
                move = engine.play(board).move
                line.append(move)
                board.push(move)
            moves.append(line)
    assert moves[0] == moves[1]


def test_watchdog_runs_an_action_only_when_its_call_outlives_the_deadline() -> None:
    import os
    import threading
    import time

    from bench.players import Watchdog

    watchdog = Watchdog(poll=0.01)
    fired = threading.Event()
    key = watchdog.arm(0.05, fired.set)
    assert fired.wait(2.0), "an armed action past its deadline never ran"

    quiet = threading.Event()
    watchdog.disarm(watchdog.arm(0.05, quiet.set))
    time.sleep(0.2)
    assert not quiet.is_set(), "a disarmed action ran"
    watchdog.disarm(key)  # disarming after it ran is harmless

    if hasattr(os, "fork"):  # a forked child has no watchdog thread: arming there must start its own
        read, write = os.pipe()
        with watchdog._lock:  # forked while the parent's watchdog holds its lock: the child gets a fresh one
            pid = os.fork()
            if pid == 0:
                child_fired = threading.Event()
                watchdog.arm(0.05, child_fired.set)
                os.write(write, b"1" if child_fired.wait(2.0) else b"0")
                os._exit(0)
        import select
        import signal

        answered = select.select([read], [], [], 10.0)[0]
        if not answered:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        assert answered, "a child forked while the watchdog's lock was held hung on it"
        assert os.read(read, 1) == b"1", "the watchdog did not run in a forked child"

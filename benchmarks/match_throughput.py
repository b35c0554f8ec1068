"""Match throughput: games per minute at concurrency 1 and 2, with the games in threads and in processes, in one run.

The workload is deterministic (full-strength Stockfish at a node limit, seeded ε-mixing, the default rules: played
to mate, 400-ply cap), so every row plays exactly the same games and the ratios measure throughput alone; the
script checks that the games are the same. Engines are reused across games (one process per concurrent game).
The issue's target: the default at concurrency 2 (processes) >= 1.8x one game at a time, on a quiet 2-core machine.

`--mcts` adds the learner side: an mcts player (the default config's network, untrained, its evaluation search)
against a Stockfish rung, threads against processes; and a search-only comparison of the two ways concurrent games
could share a network: each game in its own process with its own copy (what `play_match` does), or the games'
leaves batched into one forward pass per search step in one process (`BatchedSearch` over two roots).

    .venv/bin/python benchmarks/match_throughput.py [--games 100] [--repeats 3] [--nodes 1000] [--mcts]

Each row also gives the CPU seconds per game spent in this process (the one interpreter that threads share) and
in its children (worker processes and engines). The load average is printed before and after: figures taken on a
loaded machine say so.
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import statistics
import time
from collections import Counter
from typing import Any, Callable

import chess
import chess.pgn

from bench.games import GameRules, Parallel, PlayerFactory, load_openings, paired_specs, play_match
from bench.players import EngineSettings, Player, StockfishPlayer

TIMING = ("WhiteSeconds", "BlackSeconds", "Date")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user + system) of this process, all threads, and of its finished descendants (worker
    processes and engines, once reaped)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def timed_match(factories: dict[str, PlayerFactory], games: int, parallel: Parallel,
                concurrency: int) -> tuple[float, tuple[float, float], list[chess.pgn.Game]]:
    """Games per minute of `games` paired games between the factories' two players, the CPU seconds per game
    (this process, its descendants), and the games."""
    first, second = list(factories)
    specs = paired_specs(first, second, load_openings("default"), games // 2, seed=1)
    cpu_before = cpu_seconds()
    start = time.perf_counter()
    played, stats = play_match(specs, factories, GameRules(), concurrency=concurrency, progress=False,
                               parallel=parallel)
    seconds = time.perf_counter() - start
    assert stats.parallel == parallel
    cpu = tuple((after - before) / len(played) for after, before in zip(cpu_seconds(), cpu_before))
    return len(played) / seconds * 60, cpu, played  # type: ignore[return-value]


def game_key(game: chess.pgn.Game) -> tuple:
    return tuple(game.mainline_moves()), {k: v for k, v in game.headers.items() if k not in TIMING}


def compare(title: str, factories: dict[str, PlayerFactory], games: int,
            rows: list[tuple[Parallel, int]], repeats: int) -> dict[tuple[str, int], float]:
    """Time every row `repeats` times, the rows interleaved (so a burst of load hits every row alike), and report
    each row's median games per minute and CPU seconds per game."""
    print(f"\n{title}; {repeats} repeats of every row, interleaved, medians")
    rates: dict[tuple[str, int], list[float]] = {row: [] for row in rows}
    cpu: dict[tuple[str, int], list[tuple[float, float]]] = {row: [] for row in rows}
    played: dict[tuple[str, int], list[chess.pgn.Game]] = {}
    for _ in range(repeats):
        for row in rows:
            rate, row_cpu, played[row] = timed_match(factories, games, *row)
            rates[row].append(rate)
            cpu[row].append(row_cpu)
    median_rates = {row: statistics.median(values) for row, values in rates.items()}
    base = median_rates[rows[0]]
    print(f"  {'games in':<10} {'concurrency':>11} {'games/min':>10} {'ratio':>6}   CPU s/game: this process, children"
          f"   games/min of each repeat")
    for (parallel, concurrency), rate in median_rates.items():
        mine = statistics.median(c[0] for c in cpu[parallel, concurrency])
        theirs = statistics.median(c[1] for c in cpu[parallel, concurrency])
        each = ", ".join(f"{r:.0f}" for r in rates[parallel, concurrency])
        print(f"  {parallel:<10} {concurrency:>11} {rate:>10.1f} {rate / base:>6.2f}   {mine:>20.3f} {theirs:>9.3f}"
              f"   {each}")
    reference = [game_key(g) for g in played[rows[0]]]
    same = all([game_key(g) for g in games_] == reference for games_ in played.values())
    plies = sum(int(g.headers["PlyCount"]) for g in played[rows[0]]) / len(reference)
    ends = Counter(g.headers["Termination"] for g in played[rows[0]])
    print(f"  same games in every row: {same}; {len(reference)} games, mean {plies:.0f} plies, "
          f"{', '.join(f'{k} {v}' for k, v in ends.most_common())}")
    return median_rates


def stockfish_rows(games: int, nodes: int, repeats: int) -> None:
    factories: dict[str, PlayerFactory] = {
        "sf-eps20": lambda: StockfishPlayer("sf-eps20", EngineSettings(nodes=nodes, epsilon=0.2)),
        "sf-eps50": lambda: StockfishPlayer("sf-eps50", EngineSettings(nodes=nodes, epsilon=0.5)),
    }
    rows: list[tuple[Parallel, int]] = [("threads", 1), ("threads", 2), ("processes", 1), ("processes", 2)]
    rates = compare(f"Stockfish {nodes} nodes, eps 0.2 vs eps 0.5 (ratio: against threads at concurrency 1)",
                    factories, games, rows, repeats)
    print(f"  ratio, concurrency 2 over 1: threads {rates['threads', 2] / rates['threads', 1]:.2f}, "
          f"processes {rates['processes', 2] / rates['processes', 1]:.2f}; "
          f"the default (processes at 2) over one game at a time: "
          f"{rates['processes', 2] / rates['threads', 1]:.2f} (target >= 1.8 on 2 cores)")


def mcts_player_factory() -> tuple[Callable[[], Player], Any]:
    """The default mcts config's evaluation player on its (untrained) network: a copy per worker, as
    `MctsLearner.make_player` makes one."""
    from bench.cli import compose_or_exit
    from bench.learners.mcts.player import MctsPlayer
    from bench.learners.mcts.workers import build_network

    import torch

    cfg = compose_or_exit(["learner=mcts"]).learner
    torch.manual_seed(0)  # the same untrained network, so the same games, in every run
    net = build_network(cfg).eval()

    def make() -> Player:
        return MctsPlayer(copy.deepcopy(net), int(cfg.eval_simulations), name="mcts", c_puct=float(cfg.c_puct),
                          fpu=float(cfg.fpu), leaves_per_step=int(cfg.eval_leaves_per_step), seed=0)

    return make, cfg


def mcts_rows(games: int, nodes: int, repeats: int) -> None:
    make, cfg = mcts_player_factory()
    factories: dict[str, PlayerFactory] = {
        "mcts": make, "sf-eps50": lambda: StockfishPlayer("sf-eps50", EngineSettings(nodes=nodes, epsilon=0.5))}
    rows: list[tuple[Parallel, int]] = [("threads", 1), ("threads", 2), ("processes", 2)]
    title = (f"mcts ({cfg.blocks}x{cfg.channels}, {cfg.policy_head} head, {cfg.eval_simulations} simulations, "
             f"{cfg.eval_leaves_per_step} leaves per forward) vs Stockfish {nodes} nodes eps 0.5")
    compare(title, factories, games, rows, repeats)
    search_rows(make)


def search_rows(make: Callable[[], Player], positions: int = 120) -> None:
    """Moves per second of the mcts player's search alone over the same positions: one game at a time, two
    games' leaves batched into one forward per step, two processes of one game each."""
    import random

    from bench.learners.mcts.search import SearchNode, history_counts
    from bench.match_pool import ForkPool

    rng = random.Random(0)
    boards: list[chess.Board] = []
    while len(boards) < positions:
        board = chess.Board()
        while not board.is_game_over() and board.ply() < 120 and len(boards) < positions:
            board.push(rng.choice(list(board.legal_moves)))
            if not board.is_game_over():
                boards.append(board.copy())
    player = make()
    search = player.search  # type: ignore[attr-defined]
    sims = player.simulations  # type: ignore[attr-defined]

    def one_at_a_time(chunk: list[chess.Board]) -> None:
        for board in chunk:
            search.search([SearchNode.root(board)], [history_counts(board)], [sims])

    def batched(chunk: list[chess.Board]) -> None:
        for a, b in zip(chunk[::2], chunk[1::2]):
            search.search([SearchNode.root(a), SearchNode.root(b)], [history_counts(a), history_counts(b)],
                          [sims, sims])

    one_at_a_time(boards[:8])  # warm-up: FLOP counting on the first batch of each shape
    batched(boards[:8])
    figures = {}
    for name, run in (("one game at a time", one_at_a_time), ("two games batched, one process", batched)):
        start = time.perf_counter()
        run(boards)
        figures[name] = len(boards) / (time.perf_counter() - start)
    halves = [boards[: len(boards) // 2], boards[len(boards) // 2:]]
    start = time.perf_counter()
    ForkPool(2, lambda: None, lambda _, task: one_at_a_time(halves[task]), lambda _: None,
             name="search").run(2, lambda task, result: None)
    figures["two games, one process each"] = len(boards) / (time.perf_counter() - start)
    base = figures["one game at a time"]
    print(f"\n  mcts search alone ({positions} positions from random games, {sims} simulations each):")
    for name, rate in figures.items():
        print(f"  {name:<32} {rate:>7.1f} moves/s  {rate / base:>5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3,
                        help="times every row is timed (interleaved); the medians are printed")
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--mcts", action="store_true", help="also time an mcts player and its search")
    parser.add_argument("--mcts-games", type=int, default=20)
    args = parser.parse_args()
    try:  # one intra-op thread in this process too: no oversubscription when threads run two networks
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    print(f"before: {load()}")
    stockfish_rows(args.games, args.nodes, args.repeats)
    if args.mcts:
        mcts_rows(args.mcts_games, args.nodes, args.repeats)
    print(f"\nafter: {load()}")


if __name__ == "__main__":
    main()

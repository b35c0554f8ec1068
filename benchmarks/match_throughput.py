"""Match throughput: games per minute of two fixed-node Stockfish rungs with concurrency 2, against the same games
played one after another. Engines are reused across games (one process per concurrent game), so the ratio should
approach the number of cores: the issue's target is >= 1.8 on 2 cores.

    .venv/bin/python benchmarks/match_throughput.py [--games 40] [--nodes 1000]
"""

from __future__ import annotations

import argparse
import time

from bench.games import GameRules, load_openings, paired_specs, play_match
from bench.players import EngineSettings, StockfishPlayer


def games_per_minute(concurrency: int, games: int, nodes: int) -> float:
    openings = load_openings("default")
    specs = paired_specs("a", "b", openings, games // 2, seed=1)
    factories = {
        "a": lambda: StockfishPlayer("a", EngineSettings(nodes=nodes, uci_elo=1350)),
        "b": lambda: StockfishPlayer("b", EngineSettings(nodes=nodes, uci_elo=1350, epsilon=0.3)),
    }
    rules = GameRules(max_plies=200, adjudication_nodes=nodes)
    start = time.perf_counter()
    play_match(specs, factories, rules, concurrency=concurrency, progress=False)
    return games / (time.perf_counter() - start) * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=40)
    parser.add_argument("--nodes", type=int, default=1000)
    args = parser.parse_args()
    sequential = games_per_minute(1, args.games, args.nodes)
    concurrent = games_per_minute(2, args.games, args.nodes)
    print(f"sequential (concurrency 1): {sequential:.1f} games/min")
    print(f"concurrent (concurrency 2): {concurrent:.1f} games/min")
    print(f"ratio: {concurrent / sequential:.2f} (target >= 1.8 on 2 cores)")


if __name__ == "__main__":
    main()

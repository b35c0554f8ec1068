"""Stockfish's work per node, measured: instructions per node and arithmetic operations per node (the factor
`bench.compute` turns `compute.engine_nodes` into `compute.engine_instructions` and `compute.engine_flops` with).

Method. `perf stat -e instructions` is not supported on these virtual machines, so the counts come from valgrind's
callgrind, which counts every instruction Stockfish executes (all threads, shared libraries included) and is
repeatable whatever else the machine is doing. Stockfish runs under `valgrind --tool=callgrind --dump-instr=yes`
twice, driven by python-chess over UCI with the settings the learners use (Threads 1, Hash 16, a new game per
opening, `go nodes N`):

1. a baseline: start, configure, `isready`, `ucinewgame`, quit, with no search;
2. the workload: the same, plus one search per position of a fixed set (positions of seeded random games, a new
   game key per game), at each search setting below.

Instructions per node = (workload instructions - baseline instructions - new games x instructions per new game) /
nodes Stockfish reported; instructions per new game (`ucinewgame`, which clears the 16 MB hash) come from a third
run that starts a new game before every search; instructions per engine start are the baseline's. Every executed
instruction address is then mapped to its mnemonic (objdump of the binary and its libraries), and the arithmetic
operations are counted per lane, as FLOPs are counted: packed add/subtract/multiply count one operation per lane,
`pmaddwd` (8 int16 multiplies, 4 pairwise adds) 12, floating-point add/subtract/multiply/divide one per lane.
Stockfish 15.1's NNUE runs in integer arithmetic (int8/int16/int32), so its "FLOPs" are integer operations counted
with the FLOP convention (a multiply-accumulate is 2); scalar integer instructions of the search (move generation,
bitboards) are left out, as FlopCounterMode leaves out everything but tensor arithmetic on the learners' side.
Both factors are printed; `bench.compute.ENGINE_FACTORS` records the figures this script printed on the reference
machine.

    .venv/bin/python benchmarks/engine_flops.py [--positions 39] [--stockfish /usr/games/stockfish] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import chess
import chess.engine

SETTINGS: dict[str, dict[str, Any]] = {
    "nodes1000": {"nodes": 1000, "options": {}},
    "nodes5000_elo1350": {"nodes": 5000, "options": {"UCI_LimitStrength": True, "UCI_Elo": 1350}},
}
"""Search settings measured: a full-strength 1,000-node search (verifiers, feedback) and a 5,000-node UCI_Elo 1350
search (the ladder's engine rungs and training opponents)."""

LANES: dict[str, int] = {
    **{f"padd{s}": n for s, n in (("b", 16), ("w", 8), ("d", 4), ("q", 2), ("sb", 16), ("sw", 8), ("usb", 16),
                                  ("usw", 8))},
    **{f"psub{s}": n for s, n in (("b", 16), ("w", 8), ("d", 4), ("q", 2), ("sb", 16), ("sw", 8), ("usb", 16),
                                  ("usw", 8))},
    "pmullw": 8, "pmulhw": 8, "pmulhuw": 8, "pmuludq": 2, "pmaddwd": 12, "pmaddubsw": 24,
    **{f"{op}{s}": n for op in ("add", "sub", "mul", "div") for s, n in (("ps", 4), ("pd", 2), ("ss", 1), ("sd", 1))},
}
"""Arithmetic operations per instruction (per lane; a multiply-add is 2). Everything else (loads, stores, shifts,
compares, max/min clamps, packs, scalar integer ALU) counts as an instruction only."""


def positions(count: int, seed: int = 0) -> list[list[chess.Board]]:
    """`count` positions from seeded random games (every third ply from 4 to 40: 13 per game), grouped by game;
    each game's searches share one hash, as a learner's opponent's do within a game."""
    rng = random.Random(seed)
    games: list[list[chess.Board]] = []
    total = 0
    while total < count:
        board, game = chess.Board(), []
        for ply in range(41):
            if board.is_game_over():
                break
            if ply >= 4 and ply % 3 == 1 and total < count:
                game.append(board.copy(stack=False))
                total += 1
            board.push(rng.choice(list(board.legal_moves)))
        if game:
            games.append(game)
    return games


def drive(command: list[str], games: list[list[chess.Board]], nodes: int, options: dict[str, object]) -> int:
    """Run the searches over UCI; returns the nodes Stockfish reported."""
    engine = chess.engine.SimpleEngine.popen_uci(command, timeout=3600)
    try:
        engine.configure({"Threads": 1, "Hash": 16, **options})
        engine.ping()
        searched = 0
        for game in games:
            key = object()  # a new game: python-chess sends ucinewgame
            for board in game:
                result = engine.play(board, chess.engine.Limit(nodes=nodes), game=key, info=chess.engine.INFO_BASIC)
                searched += int(result.info.get("nodes", 0))
        return searched
    finally:
        engine.quit()


def parse_callgrind(path: Path) -> dict[str, Counter[int]]:
    """Self instruction counts per executed address, by object file, from a `--dump-instr=yes` profile."""
    names: dict[str, str] = {}
    counts: dict[str, Counter[int]] = defaultdict(Counter)
    obj, address, after_calls = "", 0, False
    named = re.compile(r"^(c?ob)=\((\d+)\)(?: (.*))?$")
    for line in path.read_text(errors="replace").splitlines():
        if not line:
            continue
        head = line[0]
        if head in "0123456789+-*":
            fields = line.split()
            token = fields[0]
            if token.startswith("0x"):
                address = int(token, 16)
            elif token[0] in "+-":
                address += int(token)  # relative subpositions are decimal
            if after_calls:  # the cost line after calls= is the callee's inclusive cost, not this object's
                after_calls = False
                continue
            if len(fields) >= 3:
                counts[obj][address] += int(fields[-1])
            continue
        match = named.match(line)
        if match:
            key, ident, name = match.groups()
            if name:
                names[ident] = name
            if key == "ob":
                obj = names.get(ident, ident)
            continue
        after_calls = line.startswith("calls=")
    return dict(counts)


def mnemonics(binary: str) -> dict[int, str]:
    """Instruction address -> mnemonic, from objdump."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", binary], capture_output=True, text=True, check=True)
    table: dict[int, str] = {}
    for line in out.stdout.splitlines():
        match = re.match(r"^\s*([0-9a-f]+):\s+(?:(?:rep|repz|repnz|lock|notrack|bnd|data16)\s+)*([a-z][a-z0-9]*)", line)
        if match:
            table[int(match.group(1), 16)] = match.group(2)
    return table


def profile(stockfish: str, games: list[list[chess.Board]], nodes: int, options: dict[str, object],
            folder: Path, tag: str) -> tuple[int, dict[str, Counter[int]]]:
    out = folder / f"{tag}.callgrind"
    command = ["valgrind", "--tool=callgrind", "--dump-instr=yes", f"--callgrind-out-file={out}",
               f"--log-file={folder / tag}.log", stockfish]
    searched = drive(command, games, nodes, options)
    return searched, parse_callgrind(out)


def mix(counts: dict[str, Counter[int]], tables: dict[str, dict[int, str]]) -> tuple[Counter[str], int, int]:
    """(executions per mnemonic, instructions mapped, instructions in all)."""
    by_name: Counter[str] = Counter()
    mapped = total = 0
    for obj, per_address in counts.items():
        table = tables.get(obj, {})
        for address, n in per_address.items():
            total += n
            name = table.get(address)
            if name is not None:
                by_name[name] += n
                mapped += n
    return by_name, mapped, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=39)
    parser.add_argument("--stockfish", default="/usr/games/stockfish")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("objdump") is None:
        sys.exit("needs valgrind and objdump (apt-get install valgrind binutils)")
    games = positions(args.positions)
    searches = sum(len(g) for g in games)
    figures: dict[str, Any] = {"stockfish": args.stockfish, "positions": args.positions,
                               "method": "valgrind callgrind instruction counts, workload minus baseline; "
                                         "arithmetic operations per lane from the executed instruction mix"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        _, base = profile(args.stockfish, [], 1, {}, folder, "baseline")
        tables = {obj: mnemonics(obj) for obj in base if obj.startswith("/")}
        base_mix, _, base_total = mix(base, tables)
        figures["instructions_per_start"] = base_total
        work: dict[str, tuple[int, int, Counter[str], float]] = {}
        for name, setting in SETTINGS.items():
            options = dict(setting["options"])
            searched, counts = profile(args.stockfish, games, int(setting["nodes"]), options, folder, name)
            tables.update({obj: mnemonics(obj) for obj in counts if obj.startswith("/") and obj not in tables})
            work_mix, mapped, work_total = mix(counts, tables)
            work[name] = (searched, work_total - base_total, work_mix - base_mix, mapped / work_total)
        # a new game (ucinewgame: the hash cleared) per search instead of one per game of 13 searches
        first = next(iter(SETTINGS))
        alone = [[board] for game in games for board in game]
        n_alone, counts = profile(args.stockfish, alone, int(SETTINGS[first]["nodes"]),
                                  dict(SETTINGS[first]["options"]), folder, "new_game_each")
        _, _, alone_total = mix(counts, tables)
        n_first, i_first = work[first][0], work[first][1]
        per_new_game = ((alone_total - base_total) - i_first - (n_alone - n_first) * i_first / n_first) / \
            (searches - len(games))
        figures["instructions_per_new_game"] = round(per_new_game)
        for name, (searched, instructions, delta, mapped) in work.items():
            node_instructions = instructions - len(games) * per_new_game
            ops = sum(LANES.get(m, 0) * n for m, n in delta.items())
            top = [(m, round(n / searched, 1)) for m, n in delta.most_common() if m in LANES][:8]
            figures[name] = {
                "nodes": searched, "searches": searches, "new_games": len(games),
                "instructions": instructions, "instructions_per_node": round(node_instructions / searched, 1),
                "arith_ops": ops, "arith_ops_per_node": round(ops / searched, 1),
                "mapped_share": round(mapped, 4), "top_arith_per_node": top,
            }
            print(f"{name}: {searched} nodes in {searches} searches, {len(games)} games; "
                  f"{node_instructions / searched:,.0f} instructions/node; {ops / searched:,.0f} arithmetic ops/node "
                  f"({mapped:.1%} of instructions mapped to mnemonics); top ops/node {top}")
        figures["seconds"] = round(time.perf_counter() - start, 1)
    nodes = sum(figures[k]["nodes"] for k in SETTINGS)
    figures["instructions_per_node"] = round(
        sum(figures[k]["instructions"] - figures[k]["new_games"] * per_new_game for k in SETTINGS) / nodes, 1)
    figures["arith_ops_per_node"] = round(sum(figures[k]["arith_ops"] for k in SETTINGS) / nodes, 1)
    print(f"pooled: {figures['instructions_per_node']:,} instructions/node, {figures['arith_ops_per_node']:,} "
          f"arithmetic ops/node (the engine_flops factor); {per_new_game:,.0f} instructions per new game "
          f"(ucinewgame clears the 16 MB hash); {base_total:,} instructions per engine start (start, NNUE, "
          f"configure, isready, quit); {figures['seconds']} s under valgrind")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()

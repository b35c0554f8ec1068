"""icl speed on the embedded model (SmolLM2-135M-Instruct on CPU): load, tokens/s, seconds per move.

Measures, in one run:
- load time from the converted-model cache;
- prompt processing and generation tokens/s (plain forward passes, no cache);
- score mode seconds per move over a game against the random mover with `--history` past games in the prompt,
  with the prefix key/value cache and trie-packed candidates, against the same moves scored with the cache off
  (prefix_cache_entries=0) as the baseline; prints both and their ratio;
- generate mode seconds per move (answers of up to 12 tokens, retries on illegal answers) and its forfeit rate.

    .venv/bin/python benchmarks/icl_speed.py [--plies 20] [--history 4] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import chess
import torch
from omegaconf import OmegaConf

from bench.learners.icl.config import LlmConfig, PromptConfig
from bench.learners.icl.embedded import EmbeddedBackend
from bench.learners.icl.memory import GameRecord
from bench.learners.icl.player import IclPlayer, PlaySettings, Tally
from bench.learners.icl.prompts import PromptBuilder, movetext
from bench.config import CONF_DIR
from bench.players import RandomPlayer


def history(builder: PromptBuilder, games: int, plies: int) -> str:
    """`games` random games of `plies` plies, rendered as the history block."""
    records = []
    for index in range(games):
        board, mover = chess.Board(), RandomPlayer(seed=index)
        while board.ply() < plies and not board.is_game_over():
            board.push(mover.play(board).move)
        records.append(GameRecord(index + 1, "White" if index % 2 == 0 else "Black", "random", "1/2-1/2", "draw",
                                  movetext(board), board.ply()))
    return builder.history_text(records)


def play(player: IclPlayer, plies: int) -> list[float]:
    """Seconds per model move over one game (model White) against the random mover."""
    board, opponent, times = chess.Board(), RandomPlayer(seed=5), []
    player.new_game(1)
    while board.ply() < plies and not board.is_game_over():
        if board.turn == chess.WHITE:
            start = time.perf_counter()
            board.push(player.play(board).move)
            times.append(time.perf_counter() - start)
        else:
            board.push(opponent.play(board).move)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plies", type=int, default=20)
    parser.add_argument("--history", type=int, default=4, help="past games (60 plies each) in the prompt")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    templates = OmegaConf.merge(OmegaConf.structured(PromptConfig), OmegaConf.load(CONF_DIR / "prompts" / "default.yaml"))
    builder = PromptBuilder(templates)

    start = time.perf_counter()
    cached = EmbeddedBackend(OmegaConf.merge(OmegaConf.structured(LlmConfig), {"threads": args.threads}))
    print(f"load from cache: {time.perf_counter() - start:.2f} s ({cached.parameters:,} parameters)")

    with torch.inference_mode():
        ids = torch.randint(100, 40000, (1, 512))
        cached.model(ids)  # warm-up
        start = time.perf_counter()
        cached.model(ids, logits_to_keep=1)
        prompt_tps = 512 / (time.perf_counter() - start)
    print(f"prompt processing: {prompt_tps:.0f} tokens/s (512-token forward pass)")
    board = chess.Board()
    answer = cached.generate(builder.prompt("", board), max_tokens=24)
    start = time.perf_counter()
    answer = cached.generate(builder.prompt("", board), max_tokens=24)
    decode = time.perf_counter() - start
    print(f"generation: {answer.tokens_out / decode:.1f} tokens/s ({answer.tokens_out} tokens incl. a cached prompt)")

    past = history(builder, args.history, 60)
    print(f"history: {args.history} games, {cached.count_tokens(past)} tokens")
    tally = Tally()
    fast = play(IclPlayer("icl", cached, builder, past, PlaySettings(mode="score"), tally), args.plies)
    snap = tally.snapshot()
    uncached = EmbeddedBackend(OmegaConf.merge(OmegaConf.structured(LlmConfig),
                                               {"threads": args.threads, "prefix_cache_entries": 0}))
    slow = play(IclPlayer("icl", uncached, builder, past, PlaySettings(mode="score"), Tally()), args.plies)
    print(f"score mode, prefix cache: {statistics.mean(fast):.3f} s/move (first move {fast[0]:.2f} s, later median "
          f"{statistics.median(fast[1:]):.3f} s); tokens in {snap['tokens_in'] / snap['moves']:.0f}/move, "
          f"run {snap['tokens_run'] / snap['moves']:.0f}/move")
    print(f"score mode, no cache (baseline): {statistics.mean(slow):.3f} s/move; "
          f"ratio {statistics.mean(slow) / statistics.mean(fast):.2f}x")

    gen_tally = Tally()
    gen = play(IclPlayer("icl", cached, PromptBuilder(templates, show_legal=True), past,
                         PlaySettings(mode="generate", max_retries=2, max_answer_tokens=12), gen_tally), args.plies)
    g = gen_tally.snapshot()
    print(f"generate mode: {statistics.mean(gen):.3f} s/move; illegal answers {g['illegal']}, forfeits "
          f"{g['forfeits']}/{g['moves']} moves; {g['tokens_out'] / max(1, g['moves']):.1f} tokens out/move")


if __name__ == "__main__":
    main()

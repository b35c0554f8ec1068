"""memory=lora on the embedded model (SmolLM2-135M on CPU): what a lesson costs and what it changes, and the
three memory modes' runs side by side.

`lesson` (the default): plays `--games` seeded training games against the random mover through the real learner
(memory=lora, objective=supervised, Stockfish verdicts), then prints per game the lesson size, the adapter's
training seconds and measured FLOPs (FlopCounterMode), the log-likelihood of the lessons' engine moves without
and with the adapter, and the seed's arithmetic: bytes of per-run state read per token for an adapter and for a
history of the same games held in context (history tokens x key/value bytes per token).

    .venv/bin/python benchmarks/icl_lora.py lesson [--games 2] [--plies 40] [--steps 2] [--lr 3e-3]

`runs`: one table from the run directories of `python -m bench learner=icl learner.memory=MODE seed=0`:
Elo with its 95% interval per history size, LoRA FLOPs, adapter bytes, state bytes per token, wall and CPU seconds.

    .venv/bin/python benchmarks/icl_lora.py runs DIR [DIR ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def lesson(args: argparse.Namespace) -> None:
    import torch

    from bench.compute import ComputeMeter
    from bench.learners import LearnerContext
    from bench.learners.icl.learner import IclLearner
    from hydra import compose, initialize_config_dir

    from bench.cli import CONFIG_PATH, register
    from bench.learners.icl.lora import lesson_examples, lesson_gain

    register()
    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "learner=icl", "ladder=quick", "progress=false", "learner.memory=lora", f"learner.max_plies={args.plies}",
            f"learner.lora.steps={args.steps}", f"learner.lora.lr={args.lr}", f"learner.lora.threads={args.threads}"])
    meter = ComputeMeter()
    context = LearnerContext(meter=meter, seed=args.seed, runtime=cfg.runtime, stockfish=cfg.stockfish,
                             rungs=list(cfg.ladder.rungs), llm=cfg.llm, run_dir=None)
    lrn = IclLearner(cfg.learner, context)
    mem = lrn.memory
    kv = lrn.backend.kv_bytes_per_token()
    print(f"adapter: {mem.adapter_params:,} parameters, {mem.adapter_bytes:,} bytes (r={cfg.learner.lora.rank}, "
          f"{list(cfg.learner.lora.target_modules)}); base model {lrn.backend.parameters:,} parameters; "
          f"key/value cache {kv:,} bytes per context token; torch threads {torch.get_num_threads()}")
    print("game  plies outcome lesson tokens/ex  train_s  train_GFLOP  loss first->last  history_tokens  "
          "state bytes/token: adapter | same history in context")
    for _ in range(args.games):
        start = time.perf_counter()
        lrn.improve()
        game_s = time.perf_counter() - start
        rec = mem.records[-1]
        examples = lesson_examples(rec, mem.builder, "", "supervised")
        tokens = [len(lrn.backend.prompt_ids(e.prompt)) for e in examples]
        last = mem.last
        history = sum(mem.context._tokens)
        print(f"{rec.index:4d}  {rec.plies:5d} {rec.outcome:7s} {len(examples):6d} "
              f"{(sum(tokens) / len(tokens)) if tokens else 0:9.0f}  {last.get('seconds', 0):7.1f}  "
              f"{last.get('flops', 0) / 1e9:11.1f}  {last.get('loss_first', float('nan')):6.2f} -> "
              f"{last.get('loss_last', float('nan')):6.2f}  {history:14d}  {mem.adapter_bytes:,} | {history * kv:,}"
              f"   (game + lesson {game_s:.0f} s)")
    before, after, count = lesson_gain(mem)
    print(f"log-likelihood of the {count} engine moves of the games trained on (after the same prompts): "
          f"base {before:.2f} nats -> with adapter {after:.2f} nats ({(after - before) / max(1, count):+.2f} per move)")
    print(f"meter: train FLOPs {meter.train_flops:.3g}, inference FLOPs {meter.infer_flops:.3g}, "
          f"verifier calls {meter.verifier_calls}, wall {meter.wall_s:.0f} s, cpu {meter.cpu_s:.0f} s")
    lrn.close()


def runs(args: argparse.Namespace) -> None:
    print("memory   games_in_ctx  elo [95% interval]       eval_games  lora_GFLOP  adapter_bytes  "
          "state_bytes/token  learner wall_s  cpu_s")
    for folder in map(Path, args.dirs):
        metrics = folder / "metrics.jsonl"
        if not metrics.is_file():
            print(f"{folder}: no metrics.jsonl yet")
            continue
        for line in metrics.read_text().splitlines():
            r: dict[str, Any] = json.loads(line)
            info, comp = r.get("learner_info", {}), r.get("compute", {})
            lo, hi = r.get("elo_ci") or (float("nan"), float("nan"))
            print(f"{info.get('memory', '?'):8s} {info.get('games_played', 0):2d} played "
                  f"{info.get('games_in_context', 0):2d} in  {r['elo']:7.0f} [{lo:6.0f}, {hi:6.0f}]  {r['games']:10d}  "
                  f"{info.get('lora_train_flops', 0) / 1e9:10.0f}  {info.get('adapter_bytes', 0):13,}  "
                  f"{info.get('state_bytes_per_token', 0):17,}  {comp.get('wall_s', 0):14.0f}  "
                  f"{comp.get('cpu_s', 0):5.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("lesson")
    one.add_argument("--games", type=int, default=2)
    one.add_argument("--plies", type=int, default=40)
    one.add_argument("--steps", type=int, default=2)
    one.add_argument("--lr", type=float, default=3e-3)
    one.add_argument("--threads", type=int, default=0)
    one.add_argument("--seed", type=int, default=0)
    many = sub.add_parser("runs")
    many.add_argument("dirs", nargs="+")
    args = parser.parse_args()
    if args.command == "runs":
        runs(args)
    else:
        lesson(args if args.command else one.parse_args([]))


if __name__ == "__main__":
    main()

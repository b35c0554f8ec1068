"""learner.warm_start=sft: a short supervised phase on Stockfish's best moves before GRPO.

Positions come from the training generators (held-out positions refused, as in GRPO); Stockfish labels each with
its best move at `sft.nodes` (each label a verifier call, its nodes counted as engine nodes). The loss is the
cross-entropy of the choice policy at T=1 (softmax over the legal moves' log-likelihoods, `policy.py`) against the
engine's move, `sft.batch` positions per AdamW step, `sft.steps` steps; the same weights GRPO trains then (the
adapter, or all of them), with their own optimiser so GRPO's starts fresh. Supervised chess RLVR work (SFT on engine
moves, then GRPO) does the same to give RL a policy that samples good moves at all.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import chess
import chess.engine
import torch

from bench.learners.rlvr_llm.policy import candidates, move_logliks, pack

log = logging.getLogger("bench.rlvr_llm")


def label(engines: Any, boards: list[chess.Board], nodes: int) -> list[tuple[chess.Move, int]]:
    """Stockfish's best move and the nodes it searched, for each board (a new game per position)."""

    def one(engine: chess.engine.SimpleEngine, board: chess.Board) -> tuple[chess.Move, int]:
        result = engine.play(board, chess.engine.Limit(nodes=nodes), game=object(), info=chess.engine.INFO_BASIC)
        return result.move, int(result.info.get("nodes", nodes))

    return engines.map(one, boards)


def warm_start(learner: Any) -> dict[str, Any]:
    """Run the supervised phase on `learner`'s trainable weights; returns its figures for the records."""
    cfg = learner.cfg.sft
    start = time.perf_counter()
    rng = random.Random(int(learner.context.seed) * 7_919 + 17)
    boards: list[chess.Board] = []
    while len(boards) < int(cfg.positions):
        task = learner.pool.fresh(1)[0]
        if not learner.heldout.contains(task.fen):
            boards.append(task.board())
    labels = label(learner.engines, boards, int(cfg.nodes))
    nodes = sum(n for _, n in labels)
    meter = learner.context.meter
    meter.add_verifier_calls(len(boards))
    meter.add_engine_nodes(nodes)
    opt = torch.optim.AdamW(learner.params, lr=float(cfg.lr), weight_decay=0.0)
    losses: list[float] = []
    hits_first = hits_last = 0.0
    with learner._training():
        for s in range(int(cfg.steps)):
            batch = rng.sample(range(len(boards)), min(int(cfg.batch), len(boards)))
            opt.zero_grad(set_to_none=True)
            loss_sum, hits = 0.0, 0
            for i in batch:
                board, (best, _) = boards[i], labels[i]
                legal, answers = candidates(learner.builder, board)
                target = legal.index(best)
                prompt = learner.backend.prompt_ids(learner.builder.prompt("", board))
                packed = pack(prompt, [learner.backend.answer_ids(a, bool(learner.cfg.score_end)) for a in answers])
                out: dict[str, float] = {}

                def run() -> None:
                    logits = move_logliks(learner.model, packed)
                    loss = -torch.log_softmax(logits, dim=-1)[target] / len(batch)
                    loss.backward()
                    out["loss"] = float(loss.detach()) * len(batch)
                    out["hit"] = float(int(torch.argmax(logits.detach())) == target)

                flops = learner._measured(("train", packed.length, len(packed.keep)), run)
                learner._count(packed.length, 1, train_flops=flops)
                loss_sum += out["loss"]
                hits += int(out["hit"])
            torch.nn.utils.clip_grad_norm_(learner.params, 1.0)
            opt.step()
            losses.append(loss_sum / len(batch))
            if s == 0:
                hits_first = hits / len(batch)
            hits_last = hits / len(batch)
    info = {"positions": len(boards), "steps": len(losses), "nodes": nodes, "engine_nodes_per_label": int(cfg.nodes),
            "loss_first": round(losses[0], 4) if losses else None, "loss_last": round(losses[-1], 4) if losses else None,
            "top1_first_batch": hits_first, "top1_last_batch": hits_last,
            "seconds": round(time.perf_counter() - start, 2)}
    log.info("rlvr_llm sft: %s", info)
    return info


__all__ = ["label", "warm_start"]

"""action=text: the model writes its answer, icl's parser reads the move out of it, GRPO trains on the tokens.

Sampling: the prompt runs once, its key/value cache is repeated for the G samples of the position, and the
answers are decoded together, token by token, from softmax(logits / T) (no top-k or top-p, so the sampled tokens'
log-probabilities are exact) until the end-of-turn token or `text.max_tokens`. An answer with no legal move in it
(icl's `parse_move`) ends its rollout with reward `text.format_penalty`.

Training: per position, the informative answers are run after the prompt in one padded batch with gradients; every
answer token gets the clipped-ratio objective with its answer's advantage (rlvr's `clipped_surrogate`), minus beta
times the k3 KL to the reference (the adapter disabled), plus the entropy bonus over the vocabulary, aggregated per
token (`loss_agg=token`) or per answer (`sequence`).

Why not TRL's GRPOTrainer: it owns the training loop (its own dataset iteration, optimiser, schedule, logging and
checkpoints) and samples with `model.generate` or vLLM from a dataset of prompts, while this harness needs one GRPO
step per `improve()`, rollouts of several moves against an opponent, rlvr's verifiers and pool, resumable state in
its checkpoint and every FLOP on the common counters; and `trl` is not in the project's environment. The loop here
is the same objective in about 150 lines.
"""

from __future__ import annotations

from typing import Any

import chess
import numpy as np
import torch

from bench.compute import count_flops
from bench.learners.icl.parsing import parse_move
from bench.learners.rlvr.grpo import clipped_surrogate, group_advantages, kl_k3


def choose(learner: Any, board: chess.Board, n: int, temperature: float) -> Any:
    """n sampled answers at `board`, parsed into moves (None where no legal move was found)."""
    from bench.learners.rlvr_llm.learner import Picks, Position

    backend, cfg = learner.backend, learner.cfg.text
    prompt_ids = backend.prompt_ids(learner.builder.prompt("", board))
    end_ids = set(backend.end_ids)
    tokens: list[list[int]] = [[] for _ in range(n)]
    logps: list[list[float]] = [[] for _ in range(n)]
    done = [False] * n
    with torch.no_grad(), count_flops() as measured:
        out = backend.model(input_ids=torch.tensor([prompt_ids]), use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        cache.batch_repeat_interleave(n)
        logits = out.logits[:, -1].float().expand(n, -1)
        for _ in range(int(cfg.max_tokens)):
            logp = torch.log_softmax(logits / temperature, dim=-1)
            picked = torch.multinomial(logp.exp(), 1, generator=learner.generator)
            for i in range(n):
                if done[i]:
                    continue
                tok = int(picked[i])
                tokens[i].append(tok)
                logps[i].append(float(logp[i, tok]))
                done[i] = tok in end_ids
            if all(done):
                break
            out = backend.model(input_ids=picked, past_key_values=cache, use_cache=True, logits_to_keep=1)
            cache = out.past_key_values
            logits = out.logits[:, -1].float()
    produced = sum(len(t) for t in tokens)
    learner._count(len(prompt_ids) + produced, 1, infer_flops=measured.total)
    moves: list[chess.Move | None] = []
    texts = []
    for toks, lps in zip(tokens, logps):
        answer = backend.tokenizer.decode([t for t in toks if t not in end_ids], skip_special_tokens=True)
        moves.append(parse_move(answer, board).move)
        texts.append({"prompt": prompt_ids, "tokens": toks, "logp": lps, "answer": answer})
    return Picks(Position(board.copy(), list(board.legal_moves), []), moves, [-1] * n,
                 [float(sum(t["logp"])) for t in texts], texts)


def _token_logp(model: Any, prompt: list[int], answers: list[list[int]], temperature: float) -> tuple[Any, Any, Any]:
    """(log-probs [B, T] of each answer's tokens, entropies [B, T], mask [B, T]) after the shared prompt."""
    width = max(len(a) for a in answers)
    n = len(prompt)
    ids = torch.zeros((len(answers), n + width), dtype=torch.long)
    attention = torch.zeros_like(ids)
    mask = torch.zeros((len(answers), width))
    for i, a in enumerate(answers):
        ids[i, :n] = torch.tensor(prompt)
        ids[i, n:n + len(a)] = torch.tensor(a)
        attention[i, :n + len(a)] = 1
        mask[i, :len(a)] = 1.0
    out = model(input_ids=ids, attention_mask=attention, use_cache=False, logits_to_keep=width + 1)
    logits = out.logits[:, :-1].float() / temperature  # position n-1+t predicts answer token t
    logp_all = torch.log_softmax(logits, dim=-1)
    targets = ids[:, n:]
    logp = logp_all.gather(-1, targets[..., None]).squeeze(-1)
    ent = -(logp_all.exp() * logp_all).sum(-1)
    return logp, ent, mask


def train(learner: Any, step: Any, tasks: int, group: int) -> dict[str, float]:
    """Clipped-ratio steps on the answers of informative groups; one padded forward per position."""
    g = learner.cfg.grpo
    advantages = group_advantages(torch.from_numpy(step.rewards), scale=bool(g.scale_rewards)).flatten()
    per_move = advantages[torch.tensor(step.rollout, dtype=torch.long)] if step.rollout else torch.zeros(0)
    keep = [i for i in np.flatnonzero(per_move.abs().numpy() > 0) if step.texts[i]["tokens"]]
    stats = {"loss": 0.0, "surrogate": 0.0, "kl": 0.0, "entropy": 0.0, "clip_fraction": 0.0,
             "informative_moves": float(len(keep)), "updates": 0.0}
    if not keep:
        return stats
    temperature, kl_coef = float(g.temperature), float(g.kl_coef)
    positions = sorted({step.move_position[i] for i in keep})
    minibatch = max(1, int(g.minibatch))
    with learner._training():
        for _ in range(max(1, int(g.epochs))):
            order = [positions[i] for i in torch.randperm(len(positions), generator=learner.generator).tolist()]
            for first in range(0, len(order), minibatch):
                chunk = set(order[first:first + minibatch])
                moves = [i for i in keep if step.move_position[i] in chunk]
                tokens_total = sum(len(step.texts[i]["tokens"]) for i in moves)
                owners = np.asarray([step.rollout[i] for i in moves])
                counts = np.bincount(owners, minlength=tasks * group)
                present = int((counts > 0).sum())
                learner.opt.zero_grad(set_to_none=True)
                sums = {"loss": 0.0, "surrogate": 0.0, "kl": 0.0, "entropy": 0.0, "clip_fraction": 0.0}
                for p in sorted(chunk):
                    here = [i for i in moves if step.move_position[i] == p]
                    answers = [step.texts[i]["tokens"] for i in here]
                    prompt = step.texts[here[0]]["prompt"]
                    shape = ("text", len(prompt), len(answers), max(len(a) for a in answers))
                    ref = None
                    if kl_coef > 0:
                        with torch.no_grad(), learner._reference():
                            ref_model = learner.ref_model if learner.ref_model is not None else learner.model
                            holder: dict[str, Any] = {}
                            flops = learner._measured(("ref", *shape), lambda: holder.setdefault(
                                "r", _token_logp(ref_model, prompt, answers, temperature)))
                            ref = holder["r"][0]
                        learner._count(len(answers) * (len(prompt) + shape[3]), 1, infer_flops=flops)
                    out: dict[str, Any] = {}

                    def run() -> None:
                        logp, ent, mask = _token_logp(learner.model, prompt, answers, temperature)
                        old = torch.zeros_like(logp)
                        adv = torch.zeros_like(logp)
                        weights = torch.zeros_like(logp)
                        for row, i in enumerate(here):
                            k = len(step.texts[i]["tokens"])
                            old[row, :k] = torch.tensor(step.texts[i]["logp"])
                            adv[row, :k] = per_move[i]
                            weights[row, :k] = (1.0 / tokens_total if str(g.loss_agg) == "token"
                                                else 1.0 / (present * k))
                        surrogate = clipped_surrogate(logp, old, adv, float(g.clip_low), float(g.clip_high))
                        objective = surrogate + float(g.entropy_coef) * ent
                        kl = kl_k3(logp, ref) if ref is not None else torch.zeros_like(logp)
                        objective = objective - kl_coef * kl
                        total = (weights * mask * objective).sum()
                        (-total).backward()
                        with torch.no_grad():
                            ratio = torch.exp(logp - old)
                            clipped = ((ratio < 1 - float(g.clip_low)) | (ratio > 1 + float(g.clip_high))).float()
                            out.update(loss=-float(total), surrogate=float((weights * mask * surrogate).sum()),
                                       kl=float((weights * mask * kl).sum()), entropy=float((weights * mask * ent).sum()),
                                       clip_fraction=float((weights * mask * clipped).sum()))

                    flops = learner._measured(("train", *shape), run)
                    learner._count(len(answers) * (len(prompt) + shape[3]), 1, train_flops=flops)
                    for key in sums:
                        sums[key] += out[key]
                grads = [q.grad for q in learner.params if q.grad is not None]
                if not grads or not all(torch.isfinite(gr).all() for gr in grads):
                    learner.opt.zero_grad(set_to_none=True)
                    continue
                if float(g.max_grad_norm) > 0:
                    torch.nn.utils.clip_grad_norm_(learner.params, float(g.max_grad_norm))
                learner.opt.step()
                learner.opt.zero_grad(set_to_none=True)
                for key, value in sums.items():
                    stats[key] += value
                stats["updates"] += 1
    for key in ("loss", "surrogate", "kl", "entropy", "clip_fraction"):
        stats[key] /= max(1.0, stats["updates"])
    return stats


__all__ = ["choose", "train"]

"""action=choice on a tiny random Llama: the packed forward pass equals a hand computation, probabilities sum to one
over the legal moves, and GRPO's advantages and objective equal their formulas worked by hand."""

from __future__ import annotations

import math
from pathlib import Path

import chess
import pytest
import torch

from bench.learners.icl.embedded import EmbeddedBackend
from bench.learners.icl.prompts import PromptBuilder
from bench.learners.rlvr.grpo import group_advantages
from bench.learners.rlvr_llm.policy import candidates, move_logliks, move_objective, pack, policy_logprobs
from tests.icl.conftest import llm_cfg, templates

FEN = "6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - 0 1"  # Ra8# among 15 legal moves


@pytest.fixture(scope="module")
def backend(tiny_dir: Path) -> EmbeddedBackend:
    torch.set_num_threads(1)
    return EmbeddedBackend(llm_cfg(model=str(tiny_dir), threads=1))


def packed_for(backend: EmbeddedBackend, board: chess.Board) -> tuple[list[str], list[int], list[list[int]]]:
    builder = PromptBuilder(templates())
    _, answers = candidates(builder, board)
    return answers, backend.prompt_ids(builder.prompt("", board)), [backend.answer_ids(a, True) for a in answers]


def test_packed_logliks_equal_one_sequence_per_move_and_icl_scoring(backend: EmbeddedBackend) -> None:
    board = chess.Board(FEN)
    answers, prompt, cands = packed_for(backend, board)
    with torch.no_grad():
        packed = move_logliks(backend.model, pack(prompt, cands))
        by_hand = []
        for cand in cands:  # the plain way: prompt + this move alone, causal attention, summed token log-probs
            ids = torch.tensor([prompt + cand])
            logp = torch.log_softmax(backend.model(input_ids=ids).logits[0].float(), dim=-1)
            by_hand.append(sum(float(logp[len(prompt) - 1 + t, tok]) for t, tok in enumerate(cand)))
    assert packed.shape == (len(answers),)
    assert torch.allclose(packed, torch.tensor(by_hand), atol=1e-4)
    scored = backend.score(PromptBuilder(templates()).prompt("", board), answers, end=True)  # icl's scoring
    assert torch.allclose(packed, torch.tensor(scored.logprobs), atol=1e-4)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_choice_probabilities_sum_to_one_over_the_legal_moves(backend: EmbeddedBackend, temperature: float) -> None:
    board = chess.Board("r1bqkb1r/pppp1ppp/2n2n2/4p2Q/2B1P3/8/PPPP1PPP/RNB1K1NR w KQkq - 4 4")
    answers, prompt, cands = packed_for(backend, board)
    with torch.no_grad():
        probs = policy_logprobs(move_logliks(backend.model, pack(prompt, cands)), temperature).exp()
    assert len(probs) == board.legal_moves.count() == len(answers)
    assert abs(float(probs.sum()) - 1.0) < 1e-5 and bool((probs > 0).all())


def test_group_advantages_by_hand() -> None:
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    adv = group_advantages(rewards, scale=True)
    std = math.sqrt(sum((r - 0.5) ** 2 for r in (1, 0, 0, 1)) / 3)  # sample std, as TRL's GRPOTrainer
    assert torch.allclose(adv[0], torch.tensor([0.5, -0.5, -0.5, 0.5]) / (std + 1e-4))
    assert bool((adv[1] == 0).all())  # equal rewards: no signal
    assert torch.allclose(group_advantages(rewards, scale=False)[0], torch.tensor([0.5, -0.5, -0.5, 0.5]))


def test_grpo_objective_by_hand_on_the_tiny_model(backend: EmbeddedBackend) -> None:
    board = chess.Board(FEN)
    _, prompt, cands = packed_for(backend, board)
    logp = policy_logprobs(move_logliks(backend.model, pack(prompt, cands)), 2.0)
    actions = torch.tensor([0, 3, 3, 7])
    shift = torch.tensor([0.0, 0.5, -0.4, 0.1])  # sampled under another policy: ratios e^-0.5, e^0.4, e^-0.1
    logp_old = logp.detach()[actions] + shift
    adv = torch.tensor([1.2, -0.7, 0.9, -1.1])
    weights = torch.full((4,), 0.25)
    logp_ref = logp.detach() + 0.3 * torch.linspace(-1, 1, len(logp))
    logp_ref = torch.log_softmax(logp_ref, 0)
    beta, c, lo, hi = 0.1, 0.01, 0.2, 0.28
    parts = move_objective(logp, actions, logp_old, adv, weights, lo, hi, beta, logp_ref, c)
    # by hand, move by move, in plain floats
    lp = logp.detach().tolist()
    ent = -sum(math.exp(x) * x for x in lp)
    total = 0.0
    clipped = 0
    for k, a in enumerate(actions.tolist()):
        ratio = math.exp(lp[a] - float(logp_old[k]))
        surrogate = min(ratio * float(adv[k]), min(max(ratio, 1 - lo), 1 + hi) * float(adv[k]))
        d = float(logp_ref[a]) - lp[a]
        kl = math.exp(d) - d - 1
        total += 0.25 * (surrogate - beta * kl + c * ent)
        clipped += int(ratio < 1 - lo or ratio > 1 + hi)
    assert abs(float(parts["objective"].detach()) - total) < 1e-5
    assert abs(float(parts["entropy"]) - ent) < 1e-5
    assert abs(float(parts["clipped"]) - clipped / 4) < 1e-6 and clipped == 2  # e^-0.5 < 0.8, e^0.4 > 1.28
    (-parts["objective"]).backward()  # differentiable through the model
    assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in backend.model.parameters())
    backend.model.zero_grad(set_to_none=True)

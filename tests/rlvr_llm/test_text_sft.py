"""action=text and warm_start=sft on a tiny random Llama: answers are sampled, parsed and penalised when illegal;
the token-level GRPO step trains; the supervised phase labels positions with Stockfish and lowers its loss."""

from __future__ import annotations

from pathlib import Path

import chess
import pytest

from bench.compute import ComputeMeter
from tests.rlvr_llm.conftest import make_learner, rlvr_llm_cfg


def test_text_action_parses_answers_and_penalises_illegal_ones(tiny_dir: Path) -> None:
    meter = ComputeMeter()
    lrn = make_learner(rlvr_llm_cfg(tiny_dir, "learner.action=text", "learner.text.max_tokens=4",
                                    "learner.grpo.temperature=1.0", "learner.text.format_penalty=-0.5"), meter=meter)
    picks = lrn_choose(lrn, chess.Board(), 6)
    assert len(picks.moves) == 6 and all(len(t["tokens"]) == len(t["logp"]) <= 4 for t in picks.texts)
    assert all(m is None or m in chess.Board().legal_moves for m in picks.moves)
    for _ in range(2):
        lrn.improve()
    last = lrn.history[-1]
    assert "illegal_rate" in last and 0.0 <= last["illegal_rate"] <= 1.0
    # a random model writes gibberish: nearly every answer is illegal and earns the penalty
    assert lrn.totals["illegal"] > 0 and float(last["reward_mean"]) < 0
    assert meter.snapshot()["samples"]["tokens"] > 0 and meter.infer_flops > 0
    lrn.close()


def lrn_choose(lrn, board, n):  # type: ignore[no-untyped-def]
    from bench.learners.rlvr_llm.text import choose

    return choose(lrn, board, n, 1.0)


@pytest.mark.stockfish
def test_sft_warm_start_labels_with_stockfish_and_trains(tiny_dir: Path) -> None:
    meter = ComputeMeter()
    lrn = make_learner(rlvr_llm_cfg(tiny_dir, "learner.warm_start=sft", "learner.sft.positions=4",
                                    "learner.sft.steps=6", "learner.sft.batch=4", "learner.sft.lr=1e-2",
                                    "learner.sft.nodes=200", "learner.grpo.temperature=30"), meter=meter)
    lrn.improve()
    info = lrn.eval_info()
    sft = info["sft"]
    assert sft["positions"] == 4 and sft["steps"] == 6 and sft["nodes"] > 0
    assert sft["loss_last"] < sft["loss_first"]
    assert meter.verifier_calls >= 4 and meter.engine_nodes == sft["nodes"] and meter.train_flops > 0
    assert "engine targets" in info["outside_knowledge"]
    lrn.close()


def test_text_grpo_step_trains_the_adapter_on_sampled_answers(tiny_dir: Path) -> None:
    import numpy as np
    import torch

    from bench.learners.icl.lora import adapter_tensors
    from bench.learners.rlvr_llm.learner import Step
    from bench.learners.rlvr_llm.text import train

    lrn = make_learner(rlvr_llm_cfg(tiny_dir, "learner.action=text", "learner.text.max_tokens=4",
                                    "learner.grpo.temperature=1.0", "learner.grpo.lr=1e-2", "learner.grpo.kl_coef=0.1",
                                    "learner.grpo.epochs=2"))
    picks = lrn_choose(lrn, chess.Board(), 4)
    step = Step(positions=[picks.position], move_position=[0] * 4, actions=[-1] * 4, logp_old=picks.logp_old,
                rollout=[0, 1, 2, 3], rewards=np.array([[1.0, 0.0, 0.0, -0.5]], dtype=np.float32), texts=picks.texts)
    before = adapter_tensors(lrn.wrapped)
    stats = train(lrn, step, tasks=1, group=4)
    assert stats["updates"] == 2 and stats["informative_moves"] == 4
    assert stats["kl"] > 0  # the second epoch sees an adapter that moved away from the base model
    assert stats["clip_fraction"] >= 0 and stats["entropy"] > 0
    after = adapter_tensors(lrn.wrapped)
    assert any(not torch.equal(after[k], before[k]) for k in before)
    lrn.close()

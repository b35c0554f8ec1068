"""A non-chess family through the rlvr_llm learner (issue 19) on icl's tiny random Llama: GRPO steps run on the
family's problems with rlvr's pool, the counters move as for chess, the held-out problems are scored and never
trained on, a checkpoint round-trips, and a tiny model learns a fixed family set."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.compute import ComputeMeter
from bench.errors import BenchError
from bench.learners.rlvr_llm import families
from tests.rlvr_llm.conftest import make_learner, rlvr_llm_cfg


def family_cfg(model: Path, name: str, *overrides: str) -> object:
    return rlvr_llm_cfg(model, f"learner.family.name={name}", "learner.family.difficulty=[2]",
                        "learner.family.heldout_count=8", *overrides)


@pytest.mark.parametrize("name", ["addition", "logic"])
def test_a_family_step_counts_like_chess_and_never_trains_on_heldout(tiny_dir: Path, name: str) -> None:
    d = 3 if name == "logic" else 2
    meter = ComputeMeter()
    lrn = make_learner(family_cfg(tiny_dir, name, f"learner.family.difficulty=[{d}]", "learner.grpo.temperature=5"),
                       meter=meter)
    try:
        info0 = lrn.eval_info()
        assert info0["heldout"]["tasks"] == 8 and info0["heldout"]["family"] == name
        assert meter.snapshot()["samples"]["tokens"] == 0  # the held-out set is measurement: no counter moves
        trained: list[str] = []
        original = lrn._rollouts

        def spy(tasks, group, temperature, greedy=False):  # type: ignore[no-untyped-def]
            trained.extend(t.fen for t in tasks)
            return original(tasks, group, temperature, greedy)

        lrn._rollouts = spy  # type: ignore[method-assign]
        for _ in range(3):
            lrn.improve()
        snap = meter.snapshot()
        assert snap["samples"]["rollouts"] == 3 * 2 * 4 and snap["samples"]["tasks"] == 6
        assert snap["samples"]["tokens"] > 0 and snap["compute"]["infer_flops"] > 0
        assert snap["compute"]["verifier_calls"] == 24
        assert all(k.startswith(f"{name}:{d}:") and not families.is_heldout(k, 0.2) for k in trained)
        assert not set(trained) & {t.fen for t in lrn.heldout.tasks}
        info = lrn.eval_info()
        assert 0.0 <= info["heldout"]["solve_rate"] <= 1.0 and "start_solve_rate" in info["heldout"]
        assert info["outside_knowledge"] == ["pretrained model"]
        state = lrn.state_dict()
    finally:
        lrn.close()
    again = make_learner(family_cfg(tiny_dir, name, f"learner.family.difficulty=[{d}]"))
    try:
        again.load_state_dict(state)
        again.improve()
        assert again.steps == 4
    finally:
        again.close()


def test_a_tiny_model_learns_fixed_additions(tiny_dir: Path) -> None:
    """Four 1-digit sums, trained on every weight: the right sum becomes the greedy choice on most of them."""
    lrn = make_learner(family_cfg(tiny_dir, "addition", "learner.family.difficulty=[1]", "learner.pool.fixed=true",
                                  "learner.pool.size=4", "learner.train=full", "learner.grpo.temperature=5",
                                  "learner.grpo.lr=3e-2", "learner.grpo.tasks_per_step=4",
                                  "learner.grpo.group_size=16", "learner.grpo.minibatch=4"))
    try:
        tasks = [entry.task for entry in lrn.pool.entries.values()]
        assert len(tasks) == 4
        fixed = type(lrn.heldout).__new__(type(lrn.heldout))
        fixed.__dict__.update(lrn.heldout.__dict__, tasks=tasks)
        start = fixed.score(lrn)
        for _ in range(20):
            lrn.improve()
        end = fixed.score(lrn)
    finally:
        lrn.close()
    assert end["solve_rate"] >= 0.75 and end["expected_reward"] > start["expected_reward"] + 0.2, (start, end)


def test_text_action_and_bad_difficulty_are_refused(tiny_dir: Path) -> None:
    with pytest.raises(BenchError, match="action=choice"):
        make_learner(family_cfg(tiny_dir, "sort", "learner.action=text", "learner.family.difficulty=[3]"))
    with pytest.raises(BenchError, match="outside"):
        make_learner(family_cfg(tiny_dir, "sort", "learner.family.difficulty=[1]"))

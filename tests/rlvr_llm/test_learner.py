"""The rlvr_llm learner on a tiny random Llama: it learns a fixed mate-in-one set, only the adapter changes, the
held-out set is never trained on, records and counters, and resume after kill -9."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.compute import ComputeMeter
from bench.learners.icl.lora import adapter_tensors
from bench.learners.rlvr.tasks import load_task_file
from bench.elo import sign_test, wilson
from bench.learners.rlvr_llm.heldout import HeldoutSet
from bench.results import RunDir
from tests.conftest import compose_config
from tests.rlvr_llm.conftest import MATES, make_learner, rlvr_llm_cfg

FIXED = 4
"""Mate-in-one positions of the fixed set (the first lines of conf/tasks/mate_in_one.epd)."""


def fixed_set(tmp_path: Path, count: int = FIXED) -> Path:
    lines = [line for line in MATES.read_text().splitlines() if line and not line.startswith("#")][:count]
    path = tmp_path / "fixed.epd"
    path.write_text("\n".join(lines) + "\n")
    return path


def fixed_cfg(model: Path, tasks: Path, *overrides: str) -> object:
    """GRPO on a fixed task list (no autocurriculum, no held-out set): every step trains on the same tasks."""
    return rlvr_llm_cfg(model, "learner.heldout.path=null", "learner.pool.fixed=true",
                        f"learner.generators=[{{name: fixed, source: file, path: {tasks}, verifier: mate, horizon: 1}}]",
                        *overrides)


def probe(tasks: Path) -> HeldoutSet:
    return HeldoutSet(load_task_file(tasks, {"verifier": "mate", "horizon": 1, "opponent": "random",
                                             "generator": "heldout"}))


def test_a_tiny_model_learns_a_fixed_mate_in_one_set(tiny_dir: Path, tmp_path: Path) -> None:
    """From near zero: a random 2-layer model gives mates (one token longer: '#') about 2% of the policy at T=30.
    20 GRPO steps of 4 tasks x 16 samples on every weight make the mate the greedy choice on most of the set."""
    tasks = fixed_set(tmp_path)
    lrn = make_learner(fixed_cfg(tiny_dir, tasks, "learner.train=full", "learner.grpo.temperature=30",
                                 "learner.grpo.lr=1e-2", f"learner.grpo.tasks_per_step={FIXED}",
                                 "learner.grpo.group_size=16", f"learner.grpo.minibatch={FIXED}"))
    check = probe(tasks)
    start = check.score(lrn)
    assert start["solve_rate"] <= 0.25 and start["expected_reward"] < 0.05
    for _ in range(20):
        lrn.improve()
    end = check.score(lrn)
    lrn.close()
    assert end["solve_rate"] >= 0.75, (start, end)
    assert end["expected_reward"] > 2 * start["expected_reward"]
    assert sum(r["informative_groups"] for r in lrn.history) > 0


def test_only_the_adapter_changes(tiny_dir: Path, tmp_path: Path) -> None:
    tasks = fixed_set(tmp_path)
    lrn = make_learner(fixed_cfg(tiny_dir, tasks, "learner.grpo.temperature=30", "learner.grpo.lr=1e-2",
                                 "learner.grpo.tasks_per_step=4", "learner.grpo.group_size=16",
                                 "learner.grpo.kl_coef=0.05"))
    base = {k: v.detach().clone() for k, v in lrn.model.state_dict().items() if "lora_" not in k}
    adapter = adapter_tensors(lrn.wrapped)
    for _ in range(6):
        lrn.improve()
        if sum(r["updates"] for r in lrn.history):
            break
    assert sum(r["updates"] for r in lrn.history) > 0, "no informative group in 6 steps"
    after = {k: v for k, v in lrn.model.state_dict().items() if "lora_" not in k}
    assert after.keys() == base.keys()
    assert all(torch.equal(after[k], base[k]) for k in base)  # bitwise
    changed = adapter_tensors(lrn.wrapped)
    assert any(not torch.equal(changed[k], adapter[k]) for k in adapter)
    assert all(r["kl"] >= 0 for r in lrn.history)
    # the KL reference is the same model with the adapter disabled: the base model's scores, no second copy
    board = lrn.heldout.tasks[0].board() if lrn.heldout.tasks else probe(tasks).tasks[0].board()
    _, _, trained = lrn.score_position(board)
    with lrn._reference():
        lrn.backend.weights_changed()
        _, _, reference = lrn.score_position(board)
    lrn.backend.weights_changed()
    model_copy = make_learner(fixed_cfg(tiny_dir, tasks))
    _, _, untrained = model_copy.score_position(board)
    assert torch.allclose(reference, untrained, atol=1e-5) and not torch.allclose(trained, untrained, atol=1e-3)
    model_copy.close()
    lrn.close()


def test_records_counters_and_the_heldout_set(tiny_dir: Path, tmp_path: Path) -> None:
    meter = ComputeMeter()
    lrn = make_learner(rlvr_llm_cfg(tiny_dir, "learner.grpo.temperature=30"), meter=meter)
    heldout = {HeldoutSet.key(t.fen) for t in lrn.heldout.tasks}
    assert len(heldout) == 4
    seen = []
    original = lrn._rollouts

    def spy(tasks, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.extend(HeldoutSet.key(t.fen) for t in tasks)
        return original(tasks, *args, **kwargs)

    lrn._rollouts = spy  # type: ignore[method-assign]
    first = lrn.eval_info()["heldout"]
    training = len(seen)
    assert first["tasks"] == 4 and first["start_solve_rate"] == first["solve_rate"]
    assert meter.snapshot()["samples"]["tokens"] == 0  # held-out scoring is measurement, not learning
    for _ in range(3):
        lrn.improve()
    trained = seen[training:]
    assert len(trained) == 3 * 2 and not heldout & set(trained)  # never trained on a held-out position
    info = lrn.eval_info()
    for key in ("solve_rate", "solve_ci95", "expected_reward", "start_solve_rate", "paired_p", "rises_clearly"):
        assert key in info["heldout"]
    assert set(info["recent_steps"]) >= {"reward_mean", "solve_rate", "kl", "entropy"}
    assert info["outside_knowledge"] == ["pretrained model"] and info["flops_method"].startswith("measured")
    snap = meter.snapshot()
    assert snap["samples"]["tasks"] == 6 and snap["samples"]["rollouts"] == 24 == snap["samples"]["episodes"]
    assert snap["samples"]["positions"] == info["totals"]["moves"] >= 24
    assert snap["samples"]["tokens"] == info["totals"]["tokens"] > 0
    assert snap["samples"]["forward_passes"] == info["totals"]["forward_passes"] >= 6
    assert snap["compute"]["infer_flops"] > 0 and snap["episode_kind"] == "rollouts"
    if sum(r["updates"] for r in lrn.history):
        assert snap["compute"]["train_flops"] > 0
    state = lrn.state_dict()
    again = make_learner(rlvr_llm_cfg(tiny_dir, "learner.grpo.temperature=30"))
    again.load_state_dict(state)
    assert again.steps == 3 and again.history == lrn.history
    assert all(torch.equal(a, b) for a, b in zip(adapter_tensors(again.wrapped).values(),
                                                  adapter_tensors(lrn.wrapped).values()))
    lrn.close()
    again.close()


def test_heldout_verdicts() -> None:
    assert wilson(0, 64)[0] == 0.0 and 0.05 < wilson(0, 64)[1] < 0.06
    assert sign_test(0, 0) == 1.0 and abs(sign_test(5, 0) - 1 / 32) < 1e-12
    start = {"solved_vector": [0] * 60 + [1] * 4, "solve_rate": 4 / 64, "solve_ci95": wilson(4, 64)}
    later = {"solved_vector": [1] * 20 + [0] * 40 + [1] * 4, "solve_rate": 24 / 64}
    verdict = HeldoutSet.compare(later, start)
    assert verdict["gains"] == 20 and verdict["losses"] == 0 and verdict["rises_clearly"]
    same = HeldoutSet.compare(start, start)
    assert not same["rises_beyond_start"] and same["paired_p"] == 1.0


def test_config_composes_and_is_rated_like_icl() -> None:
    cfg = compose_config(["learner=rlvr_llm"])
    icl = compose_config(["learner=icl"])
    assert cfg.learner.name == "rlvr_llm" and cfg.learner.grpo.group_size == 16 and cfg.learner.action == "choice"
    assert cfg.eval == icl.eval and cfg.eval.rules == "short"
    assert cfg.budget.unit == "tasks" and cfg.llm.backend == "embedded"
    assert cfg.learner.prompts == icl.learner.prompts  # the same text for the same position


@pytest.mark.slow
@pytest.mark.stockfish
def test_resume_after_kill_loses_no_record(tiny_dir: Path, tmp_path: Path, det_conf: Path) -> None:
    """kill -9 at an optimiser step after the first evaluation, then resume=true: every record and game once."""
    from tests.faults.conftest import EVAL, bench_cli

    args = ["learner=rlvr_llm", f"llm.model={tiny_dir}", "budget.amount=8", "budget.evals=2", "budget.first=0.5",
            "learner.grpo.tasks_per_step=2", "learner.grpo.group_size=4", "learner.grpo.temperature=30",
            "learner.heldout.count=4", "learner.threads=1", "ladder=det", *EVAL, "seed=3"]
    env = {"BENCH_CONF_DIR": str(det_conf)}
    reference = tmp_path / "reference"
    done = bench_cli([*args, f"run_dir={reference}"], tmp_path, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ref = RunDir(reference).read_metrics()
    assert [r["eval_index"] for r in ref] == [0, 1, 2]
    killed_dir = tmp_path / "killed"
    killed = bench_cli([*args, f"run_dir={killed_dir}"], tmp_path, fault="kill:improve:3", env=env, timeout=600)
    assert killed.returncode == -9, killed.stderr[-2000:]
    before = RunDir(killed_dir).read_metrics()
    assert 1 <= len(before) < 3
    resumed = bench_cli([*args, f"run_dir={killed_dir}", "resume=true"], tmp_path, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = RunDir(killed_dir).read_metrics()
    assert [r["eval_index"] for r in after] == [0, 1, 2]
    assert after[: len(before)] == before
    assert [r["budget"]["spent"] for r in after] == [r["budget"]["spent"] for r in ref]
    assert [r["learner_info"]["steps"] for r in after] == [r["learner_info"]["steps"] for r in ref]
    games = RunDir(killed_dir).read_games()
    keys = [(g.headers["Evaluation"], g.headers["GameIndex"]) for g in games]
    assert len(keys) == len(set(keys)) == len(RunDir(reference).read_games())

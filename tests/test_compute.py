"""The compute meter (every counter from evaluation 0, CPU seconds of the process tree, engine work, resume of old
checkpoints) and measured FLOPs (attention included)."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import time

import pytest
import torch

from bench.compute import (
    ENGINE_FLOPS_PER_NODE,
    ENGINE_INSTRUCTIONS_PER_NEW_GAME,
    ENGINE_INSTRUCTIONS_PER_NODE,
    ENGINE_INSTRUCTIONS_PER_START,
    SAMPLE_COUNTERS,
    ComputeMeter,
    FlopCounter,
    count_flops,
    forward_flops,
    lm_context_flops,
    lm_forward_flops,
    per_position_flops,
    tree_cpu_s,
)

BURN = "import time\nend = time.process_time() + {s}\nwhile time.process_time() < end: pass\n"


def test_flop_counter_measures_a_linear_layer_and_caches_by_shape() -> None:
    layer = torch.nn.Linear(64, 32, bias=False)
    counter = FlopCounter()
    batch = torch.randn(8, 64)
    assert forward_flops(counter, layer, batch) == 2 * 8 * 64 * 32  # one multiply-add per weight per row
    calls = []
    assert counter.count(("forward", id(layer), (8, 64)), lambda: calls.append(1)) == 2 * 8 * 64 * 32
    assert calls == []  # cached: nothing ran
    assert per_position_flops(counter, layer, torch.randn(4, 64)) == 2 * 64 * 32


def test_lm_flops_rules() -> None:
    assert lm_forward_flops(135_000_000, 1000) == 2 * 135_000_000 * 1000
    # Kaplan et al.: 2N + 2 n_layer n_ctx d_attn per token; three tokens at contexts 10, 11, 12
    assert lm_context_flops(1000, 2, 64, [10, 11, 12]) == 3 * 2000 + 2 * 2 * 64 * (10 + 11 + 12)


def test_count_flops_counts_attention_on_the_cpu() -> None:
    """torch's FlopCounterMode counts no attention on the CPU; ours counts it as torch's own formula does."""
    from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

    b, h, s, d = 2, 4, 16, 8
    q, k, v = (torch.randn(b, h, s, d, requires_grad=True) for _ in range(3))
    with FlopCounterMode(display=False) as theirs:
        torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    with count_flops() as forward:
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    with count_flops() as backward:
        out.sum().backward()
    shape, causal = (b, h, s, d), (s + 1) / (2 * s)  # a causal kernel computes s(s+1)/2 of the s x s pairs
    assert theirs.get_total_flops() == 0
    assert forward.total == int(causal * sdpa_flop_count(shape, shape, shape)) == 2 * b * h * s * (s + 1) * d
    assert backward.total == int(causal * sdpa_backward_flop_count(shape, shape, shape, shape))
    mask = torch.ones(s, s, dtype=torch.bool)
    with torch.inference_mode(), count_flops() as inference:  # an explicit mask: every pair is computed
        torch.nn.functional.scaled_dot_product_attention(q.detach(), k.detach(), v.detach(), attn_mask=mask)
    assert inference.total == sdpa_flop_count(shape, shape, shape) == 4 * b * h * s * s * d
    with torch.inference_mode(), count_flops() as causal_inference:
        torch.nn.functional.scaled_dot_product_attention(q.detach(), k.detach(), v.detach(), is_causal=True)
    assert causal_inference.total == forward.total
    layer = torch.nn.Linear(8, 4)
    with count_flops() as linear:
        layer(torch.randn(3, 8))
    assert linear.total == 2 * 3 * 8 * 4  # FlopCounterMode's formulas for everything else


def test_meter_counts_spends_and_survives_a_resume() -> None:
    meter = ComputeMeter()
    meter.add_train_flops(1e9)
    meter.add_infer_flops(5e8)
    meter.add_samples("games", 3)
    meter.add_verifier_calls(2)
    assert meter.spent("train_flops") == 1e9 and meter.spent("total_flops") == 1.5e9 and meter.spent("games") == 3
    with pytest.raises(ValueError):
        meter.add_samples("widgets")
    with pytest.raises(ValueError):
        meter.spent("widgets")
    time.sleep(0.02)
    state = meter.state_dict()
    resumed = ComputeMeter()
    resumed.load_state_dict(state)
    assert resumed.spent("games") == 3 and resumed.verifier_calls == 2
    assert resumed.wall_s >= state["wall_s"] >= 0.02
    snap = resumed.snapshot()
    assert snap["samples"] == {"positions": 0, "episodes": 3, "tasks": 0, "forward_passes": 0, "tokens": 0, "games": 3}
    assert snap["episode_kind"] == "games" and snap["compute"]["train_flops"] == 1e9


def test_every_counter_is_in_the_record_from_the_start() -> None:
    snap = ComputeMeter().snapshot()
    assert snap["samples"] == dict.fromkeys(SAMPLE_COUNTERS, 0.0)
    assert set(snap["compute"]) == {"train_flops", "infer_flops", "engine_nodes", "engine_new_games", "engine_starts",
                                    "engine_instructions", "engine_flops", "wall_s", "cpu_s", "verifier_calls", "steps"}
    assert all(v == 0 for k, v in snap["compute"].items() if k not in ("wall_s", "cpu_s"))
    meter = ComputeMeter()
    meter.set_episode_kind("rollouts")
    assert meter.snapshot()["samples"]["rollouts"] == 0 and meter.snapshot()["episode_kind"] == "rollouts"


def test_episodes_have_one_kind_and_budgets_follow_it() -> None:
    meter = ComputeMeter()
    meter.add_samples("rollouts", 4)
    meter.add_samples("episodes", 2)
    assert meter.spent("rollouts") == meter.spent("episodes") == 6
    with pytest.raises(ValueError, match="rollouts"):
        meter.add_samples("games")
    with pytest.raises(ValueError, match="rollouts"):
        meter.spent("games")  # a budget that could never advance is an error, not an endless loop
    with pytest.raises(ValueError, match="kind"):
        ComputeMeter().add_samples("episodes")
    none = ComputeMeter()
    none.set_episode_kind(None)  # the random learner: no episodes; a budget in games counts its steps
    none.add_step()
    assert none.spent("games") == none.spent("steps") == 1 and none.snapshot()["samples"]["episodes"] == 0


def test_engine_nodes_convert_with_the_measured_factors() -> None:
    meter = ComputeMeter()
    meter.add_engine_nodes(1000, new_games=1, starts=1)
    meter.add_engine_nodes(234, new_games=2)
    compute = meter.snapshot()["compute"]
    assert compute["engine_nodes"] == 1234 and meter.spent("engine_nodes") == 1234
    assert compute["engine_new_games"] == 3 and compute["engine_starts"] == 1
    assert compute["engine_instructions"] == (1234 * ENGINE_INSTRUCTIONS_PER_NODE + 3 * ENGINE_INSTRUCTIONS_PER_NEW_GAME
                                              + ENGINE_INSTRUCTIONS_PER_START)
    assert compute["engine_flops"] == 1234 * ENGINE_FLOPS_PER_NODE  # clearing a hash and starting are no arithmetic
    again = ComputeMeter()
    again.load_state_dict(meter.state_dict())
    assert again.snapshot()["compute"]["engine_instructions"] == compute["engine_instructions"]
    assert 5_000 < ENGINE_INSTRUCTIONS_PER_NODE < 50_000 and 5_000 < ENGINE_FLOPS_PER_NODE < 50_000


def test_an_old_checkpoint_resumes() -> None:
    old = {"train_flops": 1.0, "infer_flops": 2.0, "verifier_calls": 3, "wall_s": 4.0, "cpu_s": 5.0,
           "samples": {"games": 6.0, "positions": 70.0, "simulations": 800.0}}
    meter = ComputeMeter()
    meter.load_state_dict(old)
    snap = meter.snapshot()
    assert snap["samples"] == {"positions": 70, "episodes": 6, "tasks": 0, "forward_passes": 0, "tokens": 0,
                               "games": 6, "simulations": 800}
    assert snap["compute"]["engine_nodes"] == 0 and snap["compute"]["cpu_s"] >= 5.0 and meter.spent("games") == 6
    again = ComputeMeter()
    again.load_state_dict(meter.state_dict())
    assert again.snapshot()["samples"] == snap["samples"] and again.episode_kind == "games"


def test_cpu_seconds_include_a_child_process_alive_and_reaped() -> None:
    meter = ComputeMeter()
    own = time.process_time()
    child = subprocess.Popen([sys.executable, "-c", BURN.format(s=0.6) + "time.sleep(30)\n"])
    try:
        deadline = time.monotonic() + 30
        while meter.cpu_s < 0.5 and time.monotonic() < deadline:  # counted while the child lives
            time.sleep(0.05)
        alive = meter.cpu_s
    finally:
        child.kill()
        child.wait()
    parent = time.process_time() - own
    assert alive >= 0.5 > parent
    assert meter.cpu_s >= alive  # reaped: now in RUSAGE_CHILDREN, never counted twice or lost


def _burn(seconds: float) -> float:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return seconds


def test_cpu_seconds_include_pool_workers_and_exclude_paused_work() -> None:
    meter = ComputeMeter()
    own = time.process_time()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert sum(pool.map(_burn, [0.4, 0.4])) == 0.8
        during = meter.cpu_s
    assert during >= 0.8 > time.process_time() - own
    before = meter.cpu_s
    with meter.paused():  # an evaluation's engines burn CPU: not the learner's
        subprocess.run([sys.executable, "-c", BURN.format(s=0.5)], check=True)
    assert meter.cpu_s - before < 0.3
    assert tree_cpu_s() > 0


def test_paused_time_is_not_charged() -> None:
    start = time.perf_counter()
    meter = ComputeMeter()
    with meter.paused():
        time.sleep(0.2)
    charged = meter.wall_s
    assert 0 <= charged <= time.perf_counter() - start - 0.2  # however slow the machine, the pause is not charged


def test_the_random_learner_counts_nothing_but_its_steps() -> None:
    from bench.learners import LearnerContext
    from bench.learners.random import RandomLearner

    meter = ComputeMeter()
    learner = RandomLearner(None, LearnerContext(meter=meter, seed=0, runtime=None, stockfish=None))
    for _ in range(3):
        learner.improve()
    snap = meter.snapshot()
    assert snap["samples"] == dict.fromkeys(SAMPLE_COUNTERS, 0.0) and snap["episode_kind"] is None
    assert all(v == 0 for k, v in snap["compute"].items() if k not in ("wall_s", "cpu_s", "steps"))
    assert snap["compute"]["steps"] == 3 and meter.spent("games") == 3  # a budget in games counts its steps
    assert learner.eval_info()["outside_knowledge"] == []
    old = ComputeMeter()  # a random run's checkpoint from before issue 14 counted its steps as games
    RandomLearner(None, LearnerContext(meter=old, seed=0, runtime=None, stockfish=None))
    old.load_state_dict({"train_flops": 0.0, "infer_flops": 0.0, "verifier_calls": 0, "wall_s": 1.0, "cpu_s": 1.0,
                         "samples": {"games": 5.0}})
    assert old.steps == 5 and old.spent("games") == 5 and old.snapshot()["samples"]["episodes"] == 0


@pytest.mark.slow
def test_cpu_seconds_include_ray_actors() -> None:
    """Ray's processes (raylet, workers, actors) are descendants of the driver that called ray.init: counted."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        burn = ray.remote(_burn)
        meter = ComputeMeter()
        own = time.process_time()
        assert sum(ray.get([burn.remote(1.0), burn.remote(1.0)])) == 2.0
        assert meter.cpu_s >= 2.0 > time.process_time() - own
    finally:
        ray.shutdown()


def test_count_flops_sees_only_its_own_thread() -> None:
    """Concurrent evaluation players each measure their own model calls."""
    import threading

    totals: dict[int, float] = {}
    start = threading.Barrier(2)

    def work(n: int) -> None:
        a = torch.randn(n, n)
        start.wait()
        with count_flops() as measured:
            for _ in range(20):
                a @ a
        totals[n] = measured.total

    threads = [threading.Thread(target=work, args=(n,)) for n in (16, 32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert totals == {16: 20 * 2 * 16**3, 32: 20 * 2 * 32**3}

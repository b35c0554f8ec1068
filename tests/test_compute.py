"""The compute meter and measured FLOPs."""

from __future__ import annotations

import time

import pytest
import torch

from bench.compute import ComputeMeter, FlopCounter, forward_flops, lm_forward_flops, per_position_flops


def test_flop_counter_measures_a_linear_layer_and_caches_by_shape() -> None:
    layer = torch.nn.Linear(64, 32, bias=False)
    counter = FlopCounter()
    batch = torch.randn(8, 64)
    assert forward_flops(counter, layer, batch) == 2 * 8 * 64 * 32  # one multiply-add per weight per row
    calls = []
    assert counter.count(("forward", id(layer), (8, 64)), lambda: calls.append(1)) == 2 * 8 * 64 * 32
    assert calls == []  # cached: nothing ran
    assert per_position_flops(counter, layer, torch.randn(4, 64)) == 2 * 64 * 32


def test_lm_flops_rule() -> None:
    assert lm_forward_flops(135_000_000, 1000) == 2 * 135_000_000 * 1000


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
    assert snap["samples"] == {"games": 3} and snap["compute"]["train_flops"] == 1e9


def test_paused_time_is_not_charged() -> None:
    meter = ComputeMeter()
    with meter.paused():
        time.sleep(0.1)
    assert meter.wall_s < 0.05

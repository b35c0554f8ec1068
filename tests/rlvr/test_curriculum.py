"""The autocurriculum pool: admission by band, retirement, dropping, empty pools, starving generators."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from bench.errors import BenchError
from bench.learners.rlvr.config import GeneratorConfig, PoolConfig
from bench.learners.rlvr.curriculum import Generator, TaskPool
from bench.learners.rlvr.sources import RandomPlaySource, ReservoirSource


def gen(**kw: object) -> Generator:
    cfg = OmegaConf.structured(GeneratorConfig(**kw))
    return Generator(cfg, 50, ReservoirSource(10, RandomPlaySource(2, 4)), None)


def pool(**kw: object) -> TaskPool:
    cfg = OmegaConf.structured(PoolConfig(**kw))
    return TaskPool(cfg, [gen(name="a", source="random_play"), gen(name="b", source="start", weight=0.0)],
                    random.Random(0))


def group(*values: float) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def test_candidates_are_admitted_only_inside_the_band() -> None:
    p = pool(band=[0.1, 0.9], fresh_per_step=4)
    drawn = p.batch(4)
    assert len(drawn) == 4 and all(fresh for _, fresh in drawn)  # empty pool: all fresh candidates
    assert all(t.generator == "a" for t, _ in drawn)  # generator b has weight 0
    p.update([(drawn[0][0], True, group(1, 0, 0, 1)), (drawn[1][0], True, group(1, 1, 1, 1)),
              (drawn[2][0], True, group(0, 0, 0, 0)), (drawn[3][0], True, group(0.5, 0.5, 0.5, 0.5))])
    stats = p.stats()
    assert stats["size"] == 1
    assert stats["counts"] == {"admitted/a": 1, "rejected_easy/a": 1, "rejected_hard/a": 1, "rejected_flat/a": 1,
                               "generated/a": 4}
    assert stats["success_histogram"][5] == 1  # rate 0.5


def test_solved_tasks_retire_and_hopeless_ones_drop() -> None:
    p = pool(band=[0.1, 0.9], fresh_per_step=0, retire_after=2, drop_after=2, ema=1.0)
    first, second = [t for t, _ in p.batch(2)]
    p.update([(first, True, group(1, 0)), (second, True, group(0, 1))])
    assert p.stats()["size"] == 2
    drawn = p.batch(2)
    assert all(not fresh for _, fresh in drawn)  # the pool is used before fresh candidates
    for _ in range(2):
        p.update([(first, False, group(1, 1)), (second, False, group(0, 0))])
    stats = p.stats()
    assert stats["size"] == 0 and stats["retired"] == 1 and stats["dropped"] == 1


def test_pool_capacity_evicts_the_most_used() -> None:
    p = pool(band=[0.1, 0.9], size=2)
    tasks = [t for t, _ in p.batch(3)]
    for t in tasks:
        p.update([(t, True, group(1, 0))])
    assert p.stats()["size"] == 2 and p.stats()["evicted"] == 1


def test_starving_generator_logs_a_fallback_and_never_hangs(caplog: pytest.LogCaptureFixture) -> None:
    p = pool(band=[0.1, 0.9], starve_warn_steps=3)
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            drawn = p.batch(2)
            p.update([(t, fresh, group(0, 0)) for t, fresh in drawn])
    assert "no candidate landed in the band" in caplog.text
    assert p.stats()["size"] == 0 and p.stats()["steps_since_admit"] == 5
    assert len(p.batch(2)) == 2  # still serves fresh candidates


def test_fixed_pool_from_a_file_keeps_every_task() -> None:
    cfg = OmegaConf.structured(PoolConfig(fixed=True))
    g = gen(name="m", source="file", path="mate_in_one.epd", verifier="mate", horizon=1)
    p = TaskPool(cfg, [g], random.Random(0))
    assert p.stats()["size"] == 200
    drawn = p.batch(8)
    p.update([(t, fresh, group(1, 1)) for t, fresh in drawn])
    assert p.stats()["size"] == 200 and p.stats()["retired"] == 0


def test_bad_configs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="band"):
        pool(band=[0.9, 0.1])
    with pytest.raises(BenchError, match="at least one task generator"):
        TaskPool(OmegaConf.structured(PoolConfig()), [], random.Random(0))
    with pytest.raises(BenchError, match="unknown source"):
        gen(source="oracle")
    with pytest.raises(BenchError, match="unknown verifier"):
        gen(verifier="oracle")
    with pytest.raises(BenchError, match="does not exist"):
        gen(source="file", path=str(tmp_path / "none.epd"))
    with pytest.raises(BenchError, match="not found"):
        gen(source="openings", path="no_such_suite")
    with pytest.raises(BenchError, match="fixed task pool is empty"):
        p = TaskPool(OmegaConf.structured(PoolConfig(fixed=True)), [gen(source="file", path="mate_in_one.epd")],
                     random.Random(0))
        p.entries.clear()
        p.batch(2)


def test_state_round_trip() -> None:
    p = pool(band=[0.1, 0.9])
    tasks = [t for t, _ in p.batch(3)]
    p.update([(t, True, group(1, 0)) for t in tasks])
    q = pool(band=[0.1, 0.9])
    q.load_state_dict(p.state_dict())
    assert q.stats() == p.stats()

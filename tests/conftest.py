"""Shared fixtures: composed configs with tiny budgets, and a quiet environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest
from omegaconf import DictConfig

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True, scope="session")
def _torch_threads() -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def compose_config(overrides: list[str]) -> DictConfig:
    from hydra import compose, initialize_config_dir

    from bench.cli import CONFIG_PATH, register

    register()
    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


TINY = ["ladder=quick", "eval=quick", "progress=false", "eval.concurrency=2"]
"""Overrides every end-to-end test starts from: the quick ladder, 8 games per evaluation."""


@pytest.fixture
def make_cfg() -> Callable[..., DictConfig]:
    def build(*overrides: str) -> DictConfig:
        return compose_config([*TINY, *overrides])

    return build


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "run"

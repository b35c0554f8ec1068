"""`python -m bench learner=mcts`: the Hydra app. It only wraps `bench.run.run`."""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from bench.cli import CONFIG_PATH, announce, guarded, register
from bench.run import run

register()


@hydra.main(config_path=CONFIG_PATH, config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    result = guarded(lambda: run(cfg, run_dir=cfg.run_dir or HydraConfig.get().runtime.output_dir))
    return announce(cfg, result)


if __name__ == "__main__":
    sys.exit(guarded(main, hydra_app=True))

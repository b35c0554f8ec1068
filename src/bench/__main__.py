"""`python -m bench learner=mcts` (or the `bench` console script): the Hydra app. It only wraps `bench.run.run`."""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from bench.cli import CONFIG_PATH, announce, guarded, record_overrides, register
from bench.run import run

register()


@hydra.main(config_path=CONFIG_PATH, config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    run_dir = cfg.run_dir or HydraConfig.get().runtime.output_dir
    record_overrides(run_dir, list(HydraConfig.get().overrides.task), resume=bool(cfg.resume))
    result = guarded(lambda: run(cfg, run_dir=run_dir))
    return announce(cfg, result)


def cli() -> None:
    """The `bench` console script."""
    sys.exit(guarded(main, hydra_app=True))


if __name__ == "__main__":
    cli()

"""`python -m bench learner=mcts`: the Hydra app. It only wraps `bench.run.run`."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from bench.cli import CONFIG_PATH, guarded, register
from bench.run import run

register()


@hydra.main(config_path=CONFIG_PATH, config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    result = guarded(lambda: run(cfg, run_dir=cfg.run_dir or hydra_output_dir()))
    print(f"Elo {result['elo']:.0f} [{result['elo_ci'][0]:.0f}, {result['elo_ci'][1]:.0f}] (95%)"
          if result["elo_ci"] else "no evaluation was recorded")
    print(f"report: {result['run_dir']}/metrics.jsonl (games: {result['run_dir']}/games.pgn)")
    return float(result["elo"])


def hydra_output_dir() -> str:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().runtime.output_dir


if __name__ == "__main__":
    sys.exit(guarded(main, hydra_app=True))

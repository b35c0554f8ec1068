"""The report's settings and the seeds' cost model: samples, tokens and FLOPs turned into dollars.

Defaults live in `conf/report.yaml`; `--set KEY=VALUE` on the command line overrides any field. Every
conversion is one line here so a reader can check it by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from bench.config import CONF_DIR

HOURS_PER_YEAR = 8766.0  # 365.25 days


@dataclass
class OtherTask:
    name: str = ""
    """An RLVR task other than chess (e.g. a maths benchmark)."""
    tasks: float = 0.0
    """Tasks an RLVR run needed to learn it."""
    source: str = ""
    """Where the figure comes from."""


@dataclass
class ReportSettings:
    thresholds: list[float] = field(default_factory=list)
    """Fixed Elo values on the ladder's scale for the first-reach tables and claims; empty: the calibrated ratings
    of the ladder's rungs above its bottom one (never a learner's own noisy mean)."""
    max_thresholds: int = 12
    """At most this many thresholds per scale (the lowest)."""
    strong_elo: float = 1800.0
    """Elo that counts as strong play (seed claim 1)."""
    far_factor: float = 10.0
    """Ratio that counts as "far more" sample-efficient (seed claim 3)."""
    equivalence_margin: float = 100.0
    """Seed claim 4 is an equivalence test: continual learning "performs at the level of" in-context learning when
    their difference is shown to lie within +- this many Elo (two one-sided tests at 5%)."""
    flops_include_engine: bool = False
    """elo_vs_flops.png: add the Stockfish work done for the learner while it learned (`compute.engine_flops`) to
    its training and inference FLOPs. Off: the engine's work is left out (the claim-3 table shows both)."""
    episode_unit: dict[str, str] = field(default_factory=lambda: {
        "mcts": "samples.games", "rlvr": "samples.rollouts", "icl": "samples.games", "random": "samples.games"})
    """Learner -> the record field counting its episodes (one game or rollout played to a verdict)."""
    tokens_per_rollout: float = 20_000
    """The seeds' LLM rollout length, tokens."""
    rollouts_per_task: float = 16
    """The seeds' samples per RLVR task."""
    dollars_per_million_tokens: float = 10.0
    """Output-token price, dollars per million tokens."""
    dollars_per_gw_year: float = 12e9
    """All-in dollars for one gigawatt of AI compute for a year."""
    watts_per_accelerator: float = 1400.0
    """All-in watts per accelerator, to turn the GW-year price into an accelerator-hour price."""
    dollars_per_accelerator_hour: float = 2.0
    """Rental price of one accelerator-hour."""
    accelerator_flops: float = 1e15
    """Peak FLOP/s of one accelerator."""
    utilization: float = 0.4
    """Fraction of peak actually achieved."""
    other_rlvr_tasks: list[OtherTask] = field(default_factory=list)
    """Reference figures for seed claim 2; empty unless the user supplies citable ones."""

    # --- conversions
    @property
    def tokens_per_task(self) -> float:
        """The seeds' arithmetic: 20K tokens x 16 rollouts = 320K (~300K) tokens per RLVR task."""
        return self.tokens_per_rollout * self.rollouts_per_task

    def token_dollars(self, tokens: float) -> float:
        return tokens / 1e6 * self.dollars_per_million_tokens

    def task_dollars(self, tasks: float) -> float:
        """Dollars for an LLM to do `tasks` RLVR tasks at the seeds' tokens per task."""
        return self.token_dollars(tasks * self.tokens_per_task)

    def accelerator_hours(self, flops: float) -> float:
        return flops / (self.accelerator_flops * self.utilization) / 3600.0

    def flop_dollars(self, flops: float) -> float:
        """FLOPs -> accelerator-hours at the assumed utilisation -> dollars at the rental price."""
        return self.accelerator_hours(flops) * self.dollars_per_accelerator_hour

    @property
    def gw_year_accelerator_hour(self) -> float:
        """Dollars per accelerator-hour implied by the GW-year price: $/GW-year / (accelerators per GW) / hours."""
        return self.dollars_per_gw_year / (1e9 / self.watts_per_accelerator) / HOURS_PER_YEAR

    def rows(self) -> list[tuple[str, str]]:
        """The cost model as (parameter, value) rows for the report."""
        return [
            ("tokens per RLVR task (LLM)", f"{self.tokens_per_rollout:,.0f} tokens x {self.rollouts_per_task:g} rollouts"
                                          f" = {self.tokens_per_task:,.0f}"),
            ("output-token price", f"${self.dollars_per_million_tokens:g} per million tokens"),
            ("dollars per RLVR task (LLM)", f"${self.task_dollars(1):,.2f}"),
            ("accelerator", f"{self.accelerator_flops:.3g} FLOP/s peak at {self.utilization:.0%} utilisation"),
            ("accelerator-hour price", f"${self.dollars_per_accelerator_hour:g}"),
            ("GW-year price", f"${self.dollars_per_gw_year:.3g} per GW-year at {self.watts_per_accelerator:g} W per "
                              f"accelerator = ${self.gw_year_accelerator_hour:.2f} per accelerator-hour"),
            ("dollars per 10^18 FLOPs", f"${self.flop_dollars(1e18):.4g}"),
        ]


DEFAULT_SETTINGS = CONF_DIR / "report.yaml"


def load_settings(path: str | Path | None = None, overrides: list[str] | None = None) -> ReportSettings:
    """Settings from `path` (default conf/report.yaml, when present) with `KEY=VALUE` overrides."""
    schema = OmegaConf.structured(ReportSettings)
    source = Path(path) if path else DEFAULT_SETTINGS
    layers: list[Any] = [schema]
    if path or source.is_file():
        layers.append(OmegaConf.load(source))
    if overrides:
        layers.append(OmegaConf.from_dotlist(list(overrides)))
    merged = OmegaConf.merge(*layers)
    settings = OmegaConf.to_object(merged)
    assert isinstance(settings, ReportSettings)
    return settings

"""The ladder: rungs of calibrated strength, from the random mover up to Stockfish's strongest UCI_Elo setting.

A ladder is defined in `conf/ladder/<name>.yaml`; its ratings come from a calibration file written by
`python -m bench.calibrate ladder=<name>` (see bench/calibrate.py). This module loads both, checks that the
installed Stockfish and the game rules match what was calibrated, and builds players for rungs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.config import CONF_DIR
from bench.errors import BenchError
from bench.games import GameRules
from bench.players import EngineSettings, Player, RandomPlayer, StockfishPlayer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rung:
    name: str
    kind: str
    settings: EngineSettings

    def describe(self) -> str:
        if self.kind == "random":
            return "uniformly random legal moves"
        s = self.settings
        parts = [f"{k}={v}" for k, v in (("uci_elo", s.uci_elo), ("skill", s.skill_level), ("nodes", s.nodes),
                                         ("depth", s.depth), ("movetime", s.movetime)) if v is not None]
        if s.epsilon:
            parts.append(f"epsilon={s.epsilon}")
        return "stockfish " + " ".join(parts)


def rungs_from_config(ladder_cfg: Any) -> list[Rung]:
    rungs = []
    seen = set()
    for raw in ladder_cfg.rungs:
        if raw.name in seen:
            raise BenchError(f"ladder {ladder_cfg.name}: rung name {raw.name!r} appears twice")
        seen.add(raw.name)
        if raw.kind not in ("random", "stockfish"):
            raise BenchError(f"ladder {ladder_cfg.name}: rung {raw.name!r} has kind {raw.kind!r}; use random or stockfish")
        if not 0.0 <= float(raw.epsilon) <= 1.0:
            raise BenchError(f"ladder {ladder_cfg.name}: rung {raw.name!r} has epsilon {raw.epsilon} outside [0, 1]")
        if raw.kind == "stockfish" and raw.nodes is None and raw.depth is None and raw.movetime is None:
            raise BenchError(f"ladder {ladder_cfg.name}: rung {raw.name!r} needs a limit (nodes, depth or movetime)")
        settings = EngineSettings(nodes=raw.nodes, depth=raw.depth, movetime=raw.movetime,
                                  skill_level=raw.skill_level, uci_elo=raw.uci_elo, epsilon=float(raw.epsilon))
        rungs.append(Rung(raw.name, raw.kind, settings))
    if len(rungs) < 2:
        raise BenchError(f"ladder {ladder_cfg.name}: needs at least two rungs")
    return rungs


def make_rung_player(rung: Rung, stockfish_cfg: Any, seed: int = 0) -> Player:
    """A fresh player for a rung (an engine process for Stockfish rungs; close it when done)."""
    if rung.kind == "random":
        return RandomPlayer(name=rung.name, seed=seed)
    return StockfishPlayer(rung.name, rung.settings, stockfish_cfg.path, stockfish_cfg.threads,
                           stockfish_cfg.hash_mb, stockfish_cfg.move_timeout)


def time_control(rungs: list[Rung]) -> dict[str, str]:
    """Each rung's search limit, for comparing a calibration with the ladder in use."""
    return {r.name: r.describe() for r in rungs}


@dataclass(frozen=True)
class RungRating:
    elo: float
    se: float
    low: float
    high: float
    nominal: float | None


@dataclass(frozen=True)
class Calibration:
    """A ladder's fitted ratings and how they were measured (see the calibration file's fields)."""

    path: Path
    ladder: str
    ratings: dict[str, RungRating]
    stockfish: dict[str, str]
    rules: str
    rungs: dict[str, str]
    games_per_pair: int
    anchor: str
    command: str
    raw: dict[str, Any]

    def elo(self, rung: str) -> float:
        return self.ratings[rung].elo

    @property
    def covariance(self) -> tuple[list[str], np.ndarray]:
        """(rung order, covariance of the fitted ratings relative to the anchor). Files written before the
        covariance was stored give the diagonal of the rungs' squared SEs (`covariance_source` says which)."""
        stored = self.raw.get("covariance")
        if stored:
            return list(stored["order"]), np.asarray(stored["matrix"], dtype=float)
        order = list(self.ratings)
        return order, np.diag([self.ratings[name].se ** 2 for name in order])

    @property
    def covariance_source(self) -> str:
        return "joint fit" if self.raw.get("covariance") else "diagonal of per-rung SEs (old calibration file)"

    @property
    def sha256(self) -> str:
        """Identifies the calibration: two evaluations are on one scale only when they share it."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest() if self.path.is_file() else ""


def calibration_path(ladder_cfg: Any, rule_set: str | None = None) -> Path:
    """The ladder's calibration file for `rule_set` (its entry in `ladder.calibrations`, else `ladder.calibration`)."""
    by_rules = ladder_cfg.get("calibrations") or {}
    path = Path(by_rules.get(rule_set) or ladder_cfg.calibration)
    return path if path.is_absolute() else CONF_DIR / "ladder" / path


def load_calibration(ladder_cfg: Any, rungs: list[Rung], rule_set: str | None = None) -> Calibration:
    path = calibration_path(ladder_cfg, rule_set)
    if not path.is_file():
        raise BenchError(
            f"ladder {ladder_cfg.name!r} has no calibration at {path}; "
            f"run `python -m bench.calibrate ladder={ladder_cfg.name}"
            f"{'' if rule_set in (None, 'mate') else ' eval.rules=' + rule_set}` first"
        )
    try:
        raw = json.loads(path.read_text())
        ratings = {name: RungRating(**r) for name, r in raw["ratings"].items()}
        calibration = Calibration(path, raw["ladder"], ratings, raw["stockfish"], raw["rules"], raw["rungs"],
                                  int(raw["games_per_pair"]), raw["anchor"], raw["command"], raw)
    except (ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"calibration file {path} is unreadable ({type(exc).__name__}: {exc}); "
                         f"re-run `python -m bench.calibrate ladder={ladder_cfg.name}`") from exc
    missing = [r.name for r in rungs if r.name not in ratings]
    if missing:
        raise BenchError(f"calibration {path} has no rating for rungs {missing}; "
                         f"re-run `python -m bench.calibrate ladder={ladder_cfg.name}`")
    return calibration


def calibration_warnings(calibration: Calibration, rungs: list[Rung], rules: GameRules,
                         stockfish_identity: dict[str, str]) -> list[str]:
    """What differs between the calibration and this run: engine build, rung settings, game rules."""
    warnings = []
    if stockfish_identity.get("name") != calibration.stockfish.get("name"):
        warnings.append(f"Stockfish here is {stockfish_identity.get('name')!r} but the ladder was calibrated with "
                        f"{calibration.stockfish.get('name')!r}: ratings may be off")
    elif stockfish_identity.get("compiler") != calibration.stockfish.get("compiler"):
        warnings.append(f"Stockfish build differs from the calibration's ({stockfish_identity.get('compiler')!r} vs "
                        f"{calibration.stockfish.get('compiler')!r})")
    for rung in rungs:
        if calibration.rungs.get(rung.name) != rung.describe():
            warnings.append(f"rung {rung.name!r} is '{rung.describe()}' here but was calibrated as "
                            f"'{calibration.rungs.get(rung.name)}'")
        if rung.settings.movetime is not None:
            warnings.append(f"rung {rung.name!r} uses a time limit: its strength depends on this machine's speed")
    return warnings


def check_rules(calibration: Calibration, rules: GameRules, allow_uncalibrated: bool) -> str | None:
    """Refuse an evaluation under rules the ladder was not calibrated for: ratings measured under other rules do
    not fit its games (adjudication alone stretches the bottom of the scale about fourfold). With
    `allow_uncalibrated` (eval.allow_uncalibrated_rules=true) the mismatch is returned as a warning instead."""
    if rules.describe() == calibration.rules:
        return None
    message = (f"ladder {calibration.ladder!r} was calibrated under the rules '{calibration.rules}' "
               f"({calibration.raw.get('rule_set', 'unnamed')}), but this evaluation plays '{rules.describe()}' "
               f"({rules.name})")
    if allow_uncalibrated:
        return message + "; its ratings do not fit these games (eval.allow_uncalibrated_rules=true)"
    raise BenchError(message + "; pick a ladder calibrated for these rules (e.g. eval=adjudicated "
                     "ladder=adjudicated), recalibrate (python -m bench.calibrate), or ask for it by name with "
                     "eval.allow_uncalibrated_rules=true")

"""Which scale each run's Elo is on, and each evaluation's rating in the terms `bench.elo` compares.

A *scale* is the pair (rules the games were played under, ladder calibration that rated them): two learners'
Elo values are comparable only on one scale. New records name both (`rules`, `ladder.calibration_sha256`); for
records written before those fields existed, the PGN's `Rules` headers stand for the rules and the calibration
is the file whose rung ratings match the ratings the record's `rungs` were rated against.

The ladder's covariance Sigma comes from the calibration file: stored (`covariance`), or, for calibration files
written before it was stored, rebuilt from the file's pair counts at its ratings with the joint fit's own
formula (`bench.elo.fit_joint`: phi times the inverse observed information, phi matched to the stored SEs; the
rebuild is used only when it reproduces every stored SE), else the diagonal of the stored SEs (rung errors taken
as independent, which they are not: say so).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special

from bench.elo import C, rung_weights

OLD_NOT_CANCELLED = "old record, ladder error not cancelled"
OLD_RECONSTRUCTED = "old record: rung weights and game-noise SE reconstructed from its per-rung games"


@dataclass(frozen=True, eq=False)
class Scale:
    """The rules and the ladder calibration behind a run's Elo values."""

    key: str
    """Identity: runs are compared only when their keys are equal."""
    rules: str
    """Rule-set name (`mate`, `quick`, ...), or for old records the PGN's `Rules` header."""
    rules_description: str
    """The rules in full (cap, adjudication)."""
    calibration: str
    """Calibration file name, or `not found`."""
    sha256: str = ""
    """The calibration file's sha256 ("" when unknown)."""
    ratings: dict[str, float] = field(default_factory=dict)
    """Calibrated rung ratings."""
    order: list[str] = field(default_factory=list)
    """Rows and columns of `cov`."""
    cov: np.ndarray | None = None
    """Covariance of the rung ratings relative to the anchor; None when unknown."""
    covariance_source: str = "unknown"
    """Where `cov` came from (stored joint fit, rebuilt from pair counts, diagonal of SEs, unknown)."""

    @property
    def label(self) -> str:
        sha = f" sha256 {self.sha256[:10]}" if self.sha256 else ""
        return f"rules {self.rules} · ladder calibration {self.calibration}{sha}"


@dataclass(frozen=True)
class Rated:
    """One evaluation's rating, as comparisons need it."""

    elo: float
    se_games: float
    """Game noise only, given the ladder (inf at an edge)."""
    weights: dict[str, float]
    """d elo / d r_k per rung ({} when unknown: the ladder error then cannot cancel)."""
    se: float
    """Absolute: game noise plus the ladder's error relative to its anchor."""
    low: float
    """Absolute 95% interval, as the record gives it (one-sided bounds at an edge)."""
    high: float
    edge: str | None = None
    source: str = "record"
    """`record`, or which fallback produced the fields (`OLD_RECONSTRUCTED`, `OLD_NOT_CANCELLED`)."""

    @property
    def cancels(self) -> bool:
        """Whether the ladder term (w_a - w_b)^T Sigma (w_a - w_b) can be formed for this rating."""
        return bool(self.weights) and math.isfinite(self.se_games)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _rungs_of(record: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """The record's per-rung (games, rung_elo), where well formed."""
    out = {}
    rungs = record.get("rungs")
    for name, info in (rungs.items() if isinstance(rungs, dict) else []):
        if isinstance(info, dict):
            games, elo = _num(info.get("games")), _num(info.get("rung_elo"))
            if games and games > 0 and elo is not None and math.isfinite(elo):
                out[str(name)] = (games, elo)
    return out


def rated_of(record: dict[str, Any], scale: Scale) -> Rated:
    """The record's rating: its own fields when it has them, else the old-record fallbacks (module docstring)."""
    elo = float(record["elo"])
    ci = record.get("elo_ci") if isinstance(record.get("elo_ci"), list) else [elo, elo]
    low, high = (float(ci[0]), float(ci[1])) if len(ci) == 2 and all(_num(x) is not None for x in ci) else (elo, elo)
    se = _num(record.get("elo_se"))
    edge = record.get("edge") if isinstance(record.get("edge"), str) else None
    if se is None:
        se = (high - low) / (2 * 1.959963984540054) if math.isfinite(high - low) else math.inf
    se_games = _num(record.get("elo_se_games"))
    weights = record.get("ladder_weights")
    if se_games is not None and isinstance(weights, dict) and weights and all(
            _num(v) is not None for v in weights.values()):
        return Rated(elo, se_games, {str(k): float(v) for k, v in weights.items()}, se, low, high, edge)
    rungs = _rungs_of(record)
    se_of = {n: math.sqrt(max(scale.cov[i, i], 0.0)) for i, n in enumerate(scale.order)} if scale.cov is not None else {}
    if edge is None and math.isfinite(se) and rungs and all(
            n in se_of and abs(scale.ratings.get(n, math.nan) - r) < 1e-6 for n, (_, r) in rungs.items()):
        # The old fit: se^2 = se_games^2 + sum_k w_k^2 se_k^2 (rung errors as independent), w_k = info shares.
        opponents = [n for n, (g, _) in rungs.items() for _ in range(int(round(g)))]
        w = rung_weights(elo, opponents, {n: r for n, (_, r) in rungs.items()})
        var_rungs = sum(w[n] ** 2 * se_of[n] ** 2 for n in w)
        if se**2 >= var_rungs:
            return Rated(elo, math.sqrt(se**2 - var_rungs), w, se, low, high, edge, OLD_RECONSTRUCTED)
    return Rated(elo, se if edge is None else math.inf, {}, se, low, high, edge, OLD_NOT_CANCELLED)


# ------------------------------------------------------------------------------------------- calibration files
def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _sha(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _ratings(calibration: dict[str, Any]) -> dict[str, float]:
    ratings = calibration.get("ratings")
    out = {}
    for name, info in (ratings.items() if isinstance(ratings, dict) else []):
        value = _num(info.get("elo")) if isinstance(info, dict) else None
        if value is not None:
            out[str(name)] = value
    return out


def rebuilt_covariance(calibration: dict[str, Any]) -> np.ndarray | None:
    """Sigma of an old calibration file from its `pairs` at its ratings: phi (L_free)^-1, L the Laplacian weighted
    by C^2 n_ij p_ij (1 - p_ij) (the joint fit's observed information), phi chosen to match the stored SEs. None
    unless every stored SE is reproduced within 0.1% (the file was written by that fit)."""
    ratings = _ratings(calibration)
    order = list(ratings)
    index = {n: i for i, n in enumerate(order)}
    anchor = calibration.get("anchor")
    pairs = calibration.get("pairs")
    if anchor not in index or not isinstance(pairs, list) or len(order) < 2:
        return None
    r = np.array([ratings[n] for n in order])
    info = np.zeros((len(order), len(order)))
    for pair in pairs:
        if not isinstance(pair, dict) or pair.get("a") not in index or pair.get("b") not in index:
            return None
        a, b, games = index[pair["a"]], index[pair["b"]], _num(pair.get("games")) or 0.0
        p = special.expit(C * (r[a] - r[b]))
        w = C * C * games * p * (1.0 - p)
        info[a, a] += w
        info[b, b] += w
        info[a, b] -= w
        info[b, a] -= w
    free = [i for i in range(len(order)) if i != index[anchor]]
    try:
        inv = np.linalg.inv(info[np.ix_(free, free)])
    except np.linalg.LinAlgError:
        return None
    stored = np.array([_num((calibration["ratings"][order[i]] or {}).get("se")) or 0.0 for i in free])
    diag = np.diag(inv)
    if np.any(diag <= 0) or np.any(stored <= 0):
        return None
    phi = stored**2 / diag
    if np.max(np.abs(phi / np.median(phi) - 1.0)) > 1e-3:
        return None
    cov = np.zeros((len(order), len(order)))
    cov[np.ix_(free, free)] = float(np.median(phi)) * inv
    return cov


def covariance_of(calibration: dict[str, Any]) -> tuple[list[str], np.ndarray | None, str]:
    """(order, Sigma, where it came from) for a calibration file's contents."""
    stored = calibration.get("covariance")
    if isinstance(stored, dict) and isinstance(stored.get("order"), list):
        try:
            matrix = np.asarray(stored["matrix"], dtype=float)
            order = [str(n) for n in stored["order"]]
            if matrix.shape == (len(order), len(order)):
                return order, matrix, "joint fit (stored in the calibration file)"
        except (KeyError, TypeError, ValueError):
            pass
    order = list(_ratings(calibration))
    rebuilt = rebuilt_covariance(calibration)
    if rebuilt is not None:
        return order, rebuilt, "joint fit rebuilt from the calibration's pair counts (old file: no stored covariance)"
    ses = [_num((calibration["ratings"][n] or {}).get("se")) for n in order]
    if order and all(s is not None and math.isfinite(s) for s in ses):
        return order, np.diag([s * s for s in ses]), ("diagonal of per-rung SEs (old file without covariance or "
                                                      "pairs: rung errors taken as independent)")
    return order, None, "unknown"


def _candidates(conf_dir: Path | None) -> list[Path]:
    return sorted((conf_dir / "ladder").glob("*.calibration.json")) if conf_dir is not None else []


def locate_calibration(
    records: list[dict[str, Any]], run_dir: Path, conf_dir: Path | None
) -> tuple[dict[str, Any] | None, Path | None, str]:
    """The calibration the records were rated against: (contents, path, how it was identified).

    New records: the file named by `ladder.calibration` (an absolute path, a path beside the run, or a name under
    conf/ladder/) when its sha256 is `ladder.calibration_sha256`, else any conf/ladder/ file with that sha256.
    Old records: the named file, or any conf/ladder/ file, whose ratings match every `rung_elo` in the records.
    """
    if not records:
        return None, None, "no records"
    ladder = records[-1].get("ladder") if isinstance(records[-1].get("ladder"), dict) else {}
    name = ladder.get("calibration") if isinstance(ladder.get("calibration"), str) else ""
    sha = ladder.get("calibration_sha256") if isinstance(ladder.get("calibration_sha256"), str) else ""
    named: list[Path] = []
    if name:
        path = Path(name)
        named = [path] if path.is_absolute() else [run_dir / path] + (
            [conf_dir / "ladder" / path.name] if conf_dir is not None else [])
    candidates = [p for p in named if p.is_file()] + [p for p in _candidates(conf_dir) if p not in named]
    if sha:
        for path in candidates:
            if _sha(path) == sha:
                data = _read_json(path)
                if data is not None:
                    return data, path, "sha256 matches the records"
        return None, None, f"no calibration file with the records' sha256 {sha[:10]} (changed since the run?)"
    rung_elos = [r for rec in records for r in _rungs_of(rec).values()]
    wanted = {n: elo for rec in records for n, (_, elo) in _rungs_of(rec).items()}
    for path in candidates:
        data = _read_json(path)
        if data is None:
            continue
        ratings = _ratings(data)
        if wanted and all(abs(ratings.get(n, math.nan) - e) < 1e-6 for n, e in wanted.items()):
            return data, path, "its ratings match the records' rung ratings"
    if not rung_elos and named and named[-1].is_file():
        data = _read_json(named[-1])
        if data is not None:
            return data, named[-1], "named by the records (old records without per-rung ratings: unverified)"
    return None, None, "no calibration file matches the records"


def _short_rules(description: str) -> str:
    """A short name for an old record's Rules header: "adjudicated, 300 plies (old)" and the like."""
    plies = re.search(r"maxplies=(\d+)", description)
    kind = "adjudicated" if "adjudicator=" in description and "adjudication=off" not in description else "to mate"
    return f"{kind}, {plies.group(1)} plies (old)" if plies else description


def scale_of(records: list[dict[str, Any]], pgn_rules: list[str], calibration: dict[str, Any] | None,
             calibration_path: Path | None) -> Scale:
    """The scale of one run (its last record speaks for the run: rules and ladder are fixed per run)."""
    final = records[-1] if records else {}
    rules = final.get("rules") if isinstance(final.get("rules"), str) else None
    description = final.get("rules_description") if isinstance(final.get("rules_description"), str) else None
    if rules is None:  # old record: the PGN's Rules headers are the rules
        description = description or " / ".join(pgn_rules) or "unknown (no rules in records or PGN)"
        rules = " / ".join(_short_rules(r) for r in pgn_rules) or "unknown"
    description = description or (calibration or {}).get("rules") or rules
    if calibration is None or calibration_path is None:
        return Scale(key=f"{rules}|uncalibrated|{id(records)}", rules=rules, rules_description=str(description),
                     calibration="not found")
    sha = _sha(calibration_path)
    order, cov, source = covariance_of(calibration)
    return Scale(key=f"{rules}|{sha}", rules=rules, rules_description=str(description),
                 calibration=calibration_path.name, sha256=sha, ratings=_ratings(calibration), order=order, cov=cov,
                 covariance_source=source)

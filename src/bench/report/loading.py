"""Find run directories, read their records, and group seeds of one configuration together.

A run directory is any folder holding a `metrics.jsonl` (single runs, Hydra sweep subfolders, copies from a
cluster). Torn last lines are not data (`bench.results.read_jsonl`), and a record whose fields the report reads
have the wrong type (a hand-edited or foreign file) is skipped with a warning that counts them. Two runs belong to the same
*configuration* when their resolved configs agree on everything except the seed and the settings that change
how a run executes but not what it learns (paths, progress bars, concurrency, the runtime group).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.report.scales import Scale, locate_calibration, scale_of
from bench.results import CONFIG, GAMES, METRICS, read_jsonl

EXECUTION_KEYS = ("seed", "run_dir", "resume", "progress", "runtime", "stockfish.path", "stockfish.threads",
                  "stockfish.hash_mb", "stockfish.move_timeout", "eval.concurrency", "hydra")
"""Dotted config prefixes that do not define a configuration (seeds of one configuration differ only here)."""

log = logging.getLogger(__name__)

_HEADER = re.compile(r'^\[(\w+) "(.*)"\]\s*$')


@dataclass
class PgnSummary:
    """What the report needs from games.pgn, read line by line (parsing every game would be slow)."""

    games: int = 0
    """Finished games (a Result other than `*`)."""
    openings: int = 0
    """Distinct `Opening` headers."""
    results: dict[str, int] = field(default_factory=dict)
    """Count per Result header."""
    rules: list[str] = field(default_factory=list)
    """Distinct `Rules` headers (adjudication and ply cap)."""
    terminations: dict[str, int] = field(default_factory=dict)
    """Count per Termination header."""


@dataclass
class Run:
    """One run directory as the report sees it."""

    path: Path
    records: list[dict[str, Any]]
    """metrics.jsonl, in evaluation order."""
    config: dict[str, Any]
    """The resolved config.yaml ({} when absent)."""
    pgn: PgnSummary
    skipped: int = 0
    """Records of metrics.jsonl left out as malformed (see `record_problem`)."""
    calibration: dict[str, Any] | None = None
    """The ladder's calibration file the records were rated against, when it can be found."""
    calibration_path: Path | None = None
    calibration_how: str = ""
    """How the calibration file was identified (sha256, matching rung ratings), or why none was."""
    scale: Scale | None = None
    """The rules and calibration behind the run's Elo values (`bench.report.scales`)."""
    config_key: str = ""
    """Identifies the configuration (config without seed and execution settings)."""
    label: str = ""
    """Short name of the configuration: the learner and the settings that tell its configurations apart."""

    @property
    def learner(self) -> str:
        name = self.records[-1].get("learner") if self.records else None
        return str(name if name is not None else get(self.config, "learner.name", "?"))

    @property
    def seed(self) -> int:
        seed = self.records[-1].get("seed") if self.records else None
        seed = seed if seed is not None else self.config.get("seed")
        return seed if isinstance(seed, int) and not isinstance(seed, bool) else 0

    @property
    def games_path(self) -> Path:
        return self.path / GAMES

    @property
    def final(self) -> dict[str, Any]:
        return self.records[-1]


def get(node: Any, dotted: str, default: Any = None) -> Any:
    """`node["a"]["b"]` for `dotted="a.b"`; `default` when any step is missing or not a mapping."""
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to `{"a.b": value}`; lists are kept whole (as JSON text, so they compare and print)."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    if isinstance(node, list):
        return {prefix[:-1]: json.dumps(node, sort_keys=True, default=str)}
    return {prefix[:-1]: node}


def find_run_dirs(paths: list[str | Path]) -> list[Path]:
    """Every folder at or under `paths` holding a metrics.jsonl, sorted, without duplicates."""
    found: set[Path] = set()
    for root in map(Path, paths):
        if (root / METRICS).is_file():
            found.add(root.resolve())
        if root.is_dir():
            found.update(p.parent.resolve() for p in root.rglob(METRICS))
    return sorted(found)


def read_pgn_summary(path: Path) -> PgnSummary:
    summary = PgnSummary()
    if not path.is_file():
        return summary
    openings: set[str] = set()
    rules: list[str] = []
    results: Counter[str] = Counter()
    terminations: Counter[str] = Counter()
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            match = _HEADER.match(line)
            if not match:
                continue
            key, value = match.groups()
            if key == "Opening":
                openings.add(value)
            elif key == "Result":
                results[value] += 1
            elif key == "Termination":
                terminations[value] += 1
            elif key == "Rules" and value not in rules:
                rules.append(value)
    summary.games = sum(n for r, n in results.items() if r != "*")
    summary.openings = len(openings)
    summary.results = dict(results)
    summary.rules = rules
    summary.terminations = dict(terminations)
    return summary


def _number(value: Any, finite: bool = True) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) if finite else not math.isnan(value)


def record_problem(record: Any) -> str | None:
    """Why a metrics record cannot be reported, or None: the fields the report reads, with the types
    `bench.run` writes them (`elo_ci` ends may be infinite: the one-sided intervals off the ladder's ends)."""
    if not isinstance(record, dict):
        return f"not a JSON object but {type(record).__name__}"
    index = record.get("eval_index")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        return f"eval_index={index!r} is not an evaluation number (an integer >= 0)"
    if not _number(record.get("elo")):
        return f"elo={record.get('elo')!r} is not a finite number"
    ci = record.get("elo_ci")
    if ci is not None and not (isinstance(ci, list) and len(ci) == 2 and all(_number(x, finite=False) for x in ci)):
        return f"elo_ci={ci!r} is not a [low, high] pair of numbers"
    for key, kind in (("edge", str), ("learner", str), ("seed", int)):
        value = record.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
            return f"{key}={value!r} is not a{'n integer' if kind is int else ' string'}"
    for key in ("compute", "samples", "budget", "ladder", "learner_info"):
        if not isinstance(record.get(key) or {}, dict):
            return f"{key}={record.get(key)!r} is not a mapping"
    for key in ("compute", "samples"):
        bad = [k for k, v in (record.get(key) or {}).items() if not _number(v)]
        if bad:
            return f"{key}.{bad[0]}={record[key][bad[0]]!r} is not a finite number"
    return None


def load_run(path: Path, conf_dir: Path | None = None) -> Run:
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    read, _ = read_jsonl(path / METRICS)
    for line, record in enumerate(read, start=1):  # read_jsonl stops at the first line that is not a record
        problem = record_problem(record)
        if problem is None:
            records.append(record)
        else:
            problems.append(f"line {line}: {problem}")
    if problems:
        log.warning("%s: %d of %d records skipped as malformed (first, %s)", path / METRICS, len(problems), len(read),
                    problems[0])
    records.sort(key=lambda r: r["eval_index"])
    config: dict[str, Any] = {}
    if (path / CONFIG).is_file():
        try:
            loaded = yaml.safe_load((path / CONFIG).read_text())
            config = loaded if isinstance(loaded, dict) else {}
        except yaml.YAMLError:
            config = {}
    calibration, calibration_path, how = locate_calibration(records, path, conf_dir)
    pgn = read_pgn_summary(path / GAMES)
    return Run(path=path, records=records, config=config, pgn=pgn, skipped=len(problems), calibration=calibration,
               calibration_path=calibration_path, calibration_how=how,
               scale=scale_of(records, pgn.rules, calibration, calibration_path))


def _defining(config: dict[str, Any], learner: str) -> dict[str, Any]:
    flat = flatten(config) if config else {"learner.name": learner}
    return {k: v for k, v in flat.items()
            if not any(k == p or k.startswith(p + ".") for p in EXECUTION_KEYS)}


def label_configurations(runs: list[Run]) -> None:
    """Fill `config_key` and `label`: seeds of one configuration share both; labels name what differs."""
    defining = {id(run): _defining(run.config, run.learner) for run in runs}
    for run in runs:
        run.config_key = json.dumps(defining[id(run)], sort_keys=True, default=str)
    by_learner: dict[str, list[Run]] = {}
    for run in runs:
        by_learner.setdefault(run.learner, []).append(run)
    for learner, group in by_learner.items():
        keys = sorted({k for run in group for k in defining[id(run)]})
        varying = [k for k in keys if len({json.dumps(defining[id(r)].get(k), default=str) for r in group}) > 1]
        for run in group:
            parts = [f"{k.removeprefix('learner.')}={_clip(defining[id(run)].get(k))}" for k in varying]
            run.label = " ".join([learner, *parts])


def _clip(value: Any, limit: int = 32) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def load_runs(paths: list[str | Path], conf_dir: Path | None = None) -> list[Run]:
    """Runs under `paths` that hold at least one record, with configurations labelled."""
    runs = [load_run(p, conf_dir) for p in find_run_dirs(paths)]
    runs = [run for run in runs if run.records]
    label_configurations(runs)
    return runs


def configurations(runs: list[Run]) -> dict[str, list[Run]]:
    """config_key -> its runs (seeds), in a stable order (learner, label)."""
    groups: dict[str, list[Run]] = {}
    for run in sorted(runs, key=lambda r: (r.learner, r.label, r.seed, str(r.path))):
        groups.setdefault(run.config_key, []).append(run)
    return groups

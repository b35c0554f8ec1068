"""One flat row per evaluation, for pandas, R, a spreadsheet or SQL: `bench-report PATHS --csv metrics.csv`
(or `--parquet metrics.parquet`, which needs pyarrow).

Each row is one record of a run's `metrics.jsonl` (see the README's glossary) with nested keys joined by dots
(`compute.train_flops`, `rungs.eps60.score`, `learner_info.losses.policy`), two-element intervals split into
`_low`/`_high` columns (`elo_ci_low`, `elo_ci_high`), other lists as JSON text, and `run_dir` first. Columns are
the union over all rows, in a fixed order: the identifying and headline columns, then the rest sorted; a key a
record lacks is an empty cell.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.results import METRICS, read_jsonl

FIRST_COLUMNS = ("run_dir", "learner", "seed", "eval_index", "budget.unit", "budget.point", "budget.spent", "elo",
                 "elo_ci_low", "elo_ci_high", "elo_se", "edge", "games")
"""Columns that lead every table, in this order (when present in any row)."""


def flat_record(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A metrics record as one flat mapping (see the module docstring)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_record(value, name + "."))
        elif isinstance(value, list):
            if name.endswith("_ci") and len(value) == 2 and all(v is None or isinstance(v, (int, float))
                                                                 for v in value):
                out[name + "_low"], out[name + "_high"] = value
            else:
                out[name] = json.dumps(value, default=str)
        else:
            out[name] = value
    return out


def find_runs(paths: list[str | Path]) -> list[Path]:
    """Every folder at or under `paths` holding a metrics.jsonl, sorted, without duplicates."""
    found: set[Path] = set()
    for root in map(Path, paths):
        if (root / METRICS).is_file():
            found.add(root.resolve())
        if root.is_dir():
            found.update(p.parent.resolve() for p in root.rglob(METRICS))
    return sorted(found)


def _shown(run: Path) -> str:
    """The run's folder relative to the working directory when it lies under it (a committed table then names no
    machine's paths), else absolute."""
    try:
        return str(run.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(run)


def metrics_rows(paths: list[str | Path]) -> list[dict[str, Any]]:
    """One flat row per complete record of every run at or under `paths` (a torn last line is not data)."""
    rows = []
    for run in find_runs(paths):
        records, _ = read_jsonl(run / METRICS)
        rows += [{"run_dir": _shown(run), **flat_record(r)} for r in records if isinstance(r, dict)]
    if not rows:
        raise BenchError(f"no evaluation records (metrics.jsonl) at or under {', '.join(map(str, paths))}")
    return rows


def columns(rows: list[dict[str, Any]]) -> list[str]:
    seen = {key for row in rows for key in row}
    return [c for c in FIRST_COLUMNS if c in seen] + sorted(seen - set(FIRST_COLUMNS))


def write_csv(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write `rows` as CSV (booleans as true/false, missing values and None as empty cells)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = columns(rows)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("true" if v is True else "false" if v is False else "" if v is None else v)
                             for k, v in row.items()})
    return path


def write_parquet(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write `rows` as Parquet; a column mixing numbers and text becomes text."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise BenchError("--parquet needs pyarrow (`pip install pyarrow`); --csv needs nothing") from exc
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, list[Any]] = {}
    for name in columns(rows):
        values = [row.get(name) for row in rows]
        kinds = {type(v) for v in values if v is not None}
        if len(kinds) > 1 and kinds <= {int, float, bool}:
            values = [None if v is None else float(v) for v in values]
        elif len(kinds) > 1 or not kinds <= {int, float, bool, str}:
            values = [None if v is None else str(v) for v in values]
        data[name] = values
    pq.write_table(pa.table(data), path)
    return path


__all__ = ["FIRST_COLUMNS", "columns", "flat_record", "metrics_rows", "write_csv", "write_parquet"]

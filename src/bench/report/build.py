"""build_report(): load the runs, draw the plots, compute the tables, write index.html, report.md and PNGs."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import CONF_DIR
from bench.errors import BenchError
from bench.report import html as H
from bench.report.claims import (Analysis, claim3_table, claims_table, cost_table, difference_table, final_table,
                                 learners_table, ratio_table, reach_table)
from bench.report.claims.claim2_measured import claim2_table
from bench.report.costs import ReportSettings, load_settings
from bench.report.loading import Run, get, load_runs
from bench.report.plots import PLOTS, captions
from bench.report.tables import Table, md_text, to_markdown

log = logging.getLogger(__name__)

INDEX = "index.html"
MARKDOWN = "report.md"


@dataclass
class Report:
    """What build_report wrote."""

    out: Path
    runs: list[Run]
    index: Path
    markdown: Path
    plots: dict[str, Path] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)


def _rung_limits(run: Run) -> str:
    """How the rungs are limited (their time control): the calibration's descriptions, else the config's rungs."""
    if run.calibration and isinstance(run.calibration.get("rungs"), dict):
        return "; ".join(f"{k}: {v}" for k, v in run.calibration["rungs"].items())
    rungs = get(run.config, "ladder.rungs") or []
    parts = []
    for rung in rungs if isinstance(rungs, list) else []:
        if isinstance(rung, dict):
            limits = " ".join(f"{k}={rung[k]}" for k in ("nodes", "depth", "movetime", "skill_level", "uci_elo",
                                                           "epsilon") if rung.get(k) not in (None, 0, 0.0))
            parts.append(f"{rung.get('name')}: {rung.get('kind')} {limits}".strip())
    return "; ".join(parts) or "-"


def _calibration_cell(run: Run) -> str:
    """The ladder and the calibration file actually used (which may differ from the name the records give, e.g.
    old records naming a file that has since been recalibrated), and how it was identified."""
    named = str(get(run.final, "ladder.calibration", "?"))
    used = run.calibration_path.name if run.calibration_path else "not found"
    also = f"; records name {named}" if run.calibration_path and run.calibration_path.name != Path(named).name else ""
    return f"{get(run.final, 'ladder.name', '?')} / {used} ({run.calibration_how}{also})"


def provenance_table(runs: list[Run], out: Path) -> Table:
    rows = []
    for run in runs:
        cal = run.calibration or {}
        stockfish = (cal.get("stockfish") or {}).get("name") or get(run.final, "ladder.stockfish") or "-"
        rows.append([
            os.path.relpath(run.path, out), run.learner, str(run.seed), run.label,
            str(len(run.records)) + (f" ({run.skipped} malformed skipped)" if run.skipped else ""),
            str(run.pgn.games), f"{run.pgn.openings} ({get(run.config, 'eval.openings', '?')})",
            _calibration_cell(run),
            str(stockfish), "; ".join(run.pgn.rules) or str(cal.get("rules", "-")),
        ])
    return Table(title="Provenance: every run behind the numbers", headers=[
        "run directory", "learner", "seed", "configuration", "evaluations", "games (PGN)", "openings (suite)",
        "ladder / calibration", "Stockfish", "game rules (PGN)"], rows=rows, notes=[
        "Every Elo above can be recomputed from the run's games.pgn and the ladder's calibration file."])


def _run_block_html(run: Run, out: Path) -> str:
    cal = run.calibration or {}
    lines = [f"<h3>{H.html.escape(run.label)} · seed {run.seed}</h3>",
             "<p>" + H.link(run.path, out, "run directory") + " · "
             + (H.link(run.games_path, out, f"games.pgn ({run.pgn.games} games)") if run.games_path.is_file()
                else "no games.pgn") + " · "
             + (H.link(run.path / "config.yaml", out, "config.yaml") if (run.path / "config.yaml").is_file()
                else "no config.yaml") + "</p>"]
    facts = [f"Ladder calibration: {run.calibration_path.name if run.calibration_path else 'not found'}"]
    if cal:
        facts.append(f"calibrated {cal.get('created', '?')} with {cal.get('games', '?')} games by "
                     f"`{cal.get('command', '?')}`; Stockfish {(cal.get('stockfish') or {}).get('name', '?')} "
                     f"({(cal.get('stockfish') or {}).get('compiler', '?')}); rules {cal.get('rules', '?')}")
    facts.append(f"Rungs and their limits (time control): {_rung_limits(run)}")
    facts.append(f"Results in PGN: {run.pgn.results}; terminations: {run.pgn.terminations}")
    lines.extend(H.paragraph(f) for f in facts)
    config_text = (run.path / "config.yaml").read_text(errors="replace") if (run.path / "config.yaml").is_file() else ""
    lines.append(H.details("resolved config", config_text or "(no config.yaml)"))
    return "\n".join(lines)


def _run_block_md(run: Run, out: Path) -> str:
    rel = os.path.relpath(run.path, out)
    cal = run.calibration or {}
    return (f"- **{md_text(run.label)}**, seed {run.seed}: [`{rel}`](<{rel}>) · [games.pgn](<{rel}/games.pgn>) "
            f"({run.pgn.games} games, {run.pgn.openings} openings) · [config.yaml](<{rel}/config.yaml>) · "
            f"calibration {run.calibration_path.name if run.calibration_path else 'not found'}"
            + (f" ({cal.get('games', '?')} games, {(cal.get('stockfish') or {}).get('name', '?')})" if cal else "")
            + f" · rungs: {_rung_limits(run)}\n")


def build_report(paths: list[str | Path], out: str | Path, settings: ReportSettings | None = None,
                 conf_dir: Path | None = CONF_DIR, command: str | None = None) -> Report:
    """Read every run under `paths` and write the report into `out`; a BenchError when no run holds a record.

    Nothing is written before the runs are read, and the files are written into a temporary folder beside `out`
    and moved into it only once all are written: a failure leaves `out` as it was (absent, or the last report).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BenchError(f"report output {out} is a file; give --out a folder")
    settings = settings or load_settings()
    runs = load_runs(list(paths), conf_dir)
    if not runs:
        raise BenchError(f"no run directory with records (metrics.jsonl) under {', '.join(map(str, paths))}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.tmp"
        staging.mkdir()  # not mkdtemp: its mode 0700 would become the report folder's
    except OSError as exc:
        raise BenchError(f"cannot write the report into {out}: {exc}") from exc
    try:
        report = _write_report(runs, settings, out, staging, command)
        _publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _publish(staging: Path, out: Path) -> None:
    """Move the written files into `out`: a rename when `out` is new; else file by file, replacing the last
    report's files and removing its plots that have no data now (other files in `out` are left alone)."""
    try:
        if not out.exists():
            os.replace(staging, out)
            return
        written = {path.name for path in staging.iterdir()}
        for name in written:
            os.replace(staging / name, out / name)
        for name in set(PLOTS) - written:
            (out / name).unlink(missing_ok=True)
    except OSError as exc:
        raise BenchError(f"cannot write the report into {out}: {exc}") from exc


def _write_report(runs: list[Run], settings: ReportSettings, out: Path, staging: Path, command: str | None) -> Report:
    """Write the report's files into `staging`; links are relative to `out`, where they will be read."""
    analysis = Analysis(runs, settings)

    drawn: dict[str, Path] = {}
    for name, draw in PLOTS.items():
        written = draw(runs, staging / name, settings)
        if written is not None:
            drawn[name] = written

    claims = claims_table(analysis)
    tables = [claim3_table(analysis), learners_table(analysis), final_table(analysis), difference_table(analysis),
              reach_table(analysis), ratio_table(analysis), claim2_table(analysis), cost_table(settings)]
    caption = captions(settings)
    provenance = provenance_table(runs, out)
    learners = ", ".join(f"{l} ({sum(r.learner == l for r in runs)} runs)" for l in analysis.learners)
    intro = (f"{len(runs)} runs: {learners}. Elo is on the ladder's scale (anchored to Stockfish 15.1's UCI_Elo); "
             "every interval is 95%.")
    for scale in analysis.scales.values():
        users = sorted({r.learner for r in analysis.runs_on(scale)})
        intro += (f" Scale {scale.label} ({', '.join(users)}): rules {scale.rules_description}; ladder covariance: "
                  f"{scale.covariance_source}.")
    if len(analysis.scales) > 1:
        intro += " Learners on different scales are never compared with each other."
    skipped = sum(run.skipped for run in runs)
    if skipped:
        intro += f" {skipped} malformed records were skipped (see the provenance table)."

    sections = [f"<h1>bench report</h1>", H.paragraph(intro)]
    if command:
        sections.append(H.paragraph(f"Generated by: {command}"))
    sections.append(H.section("The answer: seed claims", [H.table(claims)]))
    sections.append(H.section("Plots", [H.figure(p, caption[n]) for n, p in drawn.items()]
                              or [H.paragraph("No plot has data.")]))
    sections.append(H.section("Tables", [H.table(t) for t in tables]))
    sections.append(H.section("Provenance", [H.table(provenance)] + [_run_block_html(r, out) for r in runs]))
    (staging / INDEX).write_text(H.page("bench report", sections), encoding="utf-8")

    md = ["# bench report", "", intro, ""]
    if command:
        md += [f"Generated by: `{command}`", ""]
    md += ["## The answer: seed claims", "", to_markdown(claims), "## Plots", ""]
    md += [f"![{n}]({n})\n\n{caption[n]}\n" for n in drawn] or ["No plot has data.\n"]
    md += ["## Tables", ""] + [to_markdown(t) for t in tables]
    md += ["## Provenance", "", to_markdown(provenance)] + [_run_block_md(r, out) for r in runs]
    (staging / MARKDOWN).write_text("\n".join(md), encoding="utf-8")
    return Report(out=out, runs=runs, index=out / INDEX, markdown=out / MARKDOWN,
                  plots={n: out / p.name for n, p in drawn.items()}, tables=[claims, *tables, provenance])


def summary_line(report: Report) -> str:
    return (f"report: {report.index} ({len(report.runs)} runs, {len(report.plots)} plots; "
            f"markdown {report.markdown.name})")


__all__: list[Any] = ["Report", "build_report", "summary_line"]

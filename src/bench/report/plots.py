"""The report's PNGs, drawn with matplotlib's Agg backend through `Figure` objects (no pyplot state).

Every plot function takes the runs and an output path, and returns the path written, or None when the runs
hold no data for it. Run strings reach the plots only as legend labels, through `_short`, which escapes `$` so
mathtext never parses them.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bench.report.costs import ReportSettings  # noqa: E402
from bench.report.loading import Run, configurations, flatten  # noqa: E402
from bench.report.series import FIELD_LABELS, Curve, Point, configuration_curve, frontier, run_points  # noqa: E402
from bench.report.units import FORWARD_PASSES, LEARNING_FLOPS, POSITIONS, TOTAL_FLOPS, Unit, not_recorded  # noqa: E402

COLOURS = {"mcts": "#1f77b4", "rlvr": "#d62728", "icl": "#2ca02c", "random": "#7f7f7f"}
OTHER_COLOURS = ["#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#ff7f0e"]
FAMILY_COLOURS = [*COLOURS.values(), *OTHER_COLOURS]
STYLES = ["-", "--", "-.", ":"]
MARKERS = ["o", "s", "D", "^", "v", "P", "X"]
RC = {"text.usetex": False, "font.size": 9, "axes.grid": True, "grid.alpha": 0.3}
SHARED_UNITS = [POSITIONS, FORWARD_PASSES]
"""Sample panels every learner is counted in alike (issue 14): one curve per configuration that records the unit."""
SAMPLE_FIELDS = ["samples.games", "samples.rollouts", "samples.tasks", "samples.tokens"]
"""Then the panels of the units each learner counts in its own way."""
ZERO_NOTE = ("Log x axes are symmetric-log: logarithmic above the smallest positive value and linear from 0 up to "
             "it, so evaluation 0 (before learning, every counter 0) sits at 0.")


def colour(learner: str) -> str:
    if learner in COLOURS:
        return COLOURS[learner]
    return OTHER_COLOURS[sum(map(ord, learner)) % len(OTHER_COLOURS)]


def _short(text: str, limit: int = 60) -> str:
    """A legend label from run text: shortened, with `$` escaped so mathtext never parses it."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=110, metadata={"Software": None})
    return path


def _floor_line(ax: Axes, runs: list[Run]) -> None:
    """The random mover's mean Elo as a grey line with the envelope of its intervals."""
    pts = [p for run in runs if run.learner == "random" for p in run_points(run, "eval_index")]
    if not pts:
        return
    elo = sum(p.elo for p in pts) / len(pts)
    lows = [p.low for p in pts if math.isfinite(p.low)]
    highs = [p.high for p in pts if math.isfinite(p.high)]
    ax.axhline(elo, color=COLOURS["random"], lw=1.2, ls=":", label=f"random learner, mean of its evaluations ({elo:.0f})")
    if lows and highs:
        ax.axhspan(sum(lows) / len(lows), sum(highs) / len(highs), color=COLOURS["random"], alpha=0.08)


def _draw_curves(ax: Axes, curves: list[Curve], log_x: bool) -> int:
    """Mean line per configuration with its 95% envelope band and thin seed lines; returns curves drawn. Points at
    x = 0 (evaluation 0) are kept: `_set_x_scale` makes a log axis reach 0."""
    drawn = 0
    per_learner: dict[str, int] = defaultdict(int)
    for curve in curves:
        pts = [p for p in curve.points if p.x >= 0]
        if not pts or (log_x and not any(p.x > 0 for p in pts)):  # nothing spent ever: no curve along this axis
            continue
        k = per_learner[curve.learner]
        per_learner[curve.learner] += 1
        c = colour(curve.learner)
        xs = [p.x for p in pts]
        lows = [p.low if math.isfinite(p.low) else p.elo for p in pts]
        highs = [p.high if math.isfinite(p.high) else p.elo for p in pts]
        if len(pts) > 1:
            ax.fill_between(xs, lows, highs, color=c, alpha=0.12, lw=0)
        else:
            ax.errorbar(xs, [pts[0].elo], yerr=[[pts[0].elo - lows[0]], [highs[0] - pts[0].elo]], color=c, alpha=0.4,
                        capsize=3, lw=0, elinewidth=1)
        seeds = len(curve.seeds)
        label = _short(curve.label) + (f" ({seeds} seeds)" if seeds > 1 else "") + (
            f", rules {_short(curve.rules, 40)}" if curve.rules else "")
        ax.plot(xs, [p.elo for p in pts], color=c, ls=STYLES[k % len(STYLES)], marker=MARKERS[k % len(MARKERS)],
                ms=3.5, lw=1.6, label=label)
        if seeds > 1:
            for seed in curve.seeds:
                sp = [p for p in seed if p.x >= 0]
                ax.plot([p.x for p in sp], [p.elo for p in sp], color=c, lw=0.6, alpha=0.45)
        for p in pts:
            if p.edge:
                ax.plot([p.x], [p.elo], marker="^" if p.edge.startswith("above") else "v", color=c, ms=8, mfc="none")
        drawn += 1
    return drawn


def _curves(runs: list[Run], field: str, learners: set[str] | None = None) -> list[Curve]:
    out = []
    for group in configurations(runs).values():
        if learners is not None and group[0].learner not in learners:
            continue
        curve = configuration_curve(group, field)
        if curve is not None and curve.points:
            out.append(curve)
    return out


def _set_x_scale(ax: Axes, curves: list[Curve]) -> str:
    """`_log_x` over the curves' points."""
    return _log_x(ax, [p.x for c in curves for p in c.points])


def _log_x(ax: Axes, xs: list[float]) -> str:
    """A log x axis that still shows x = 0: symmetric-log with its linear part from 0 to the smallest positive x
    (ZERO_NOTE) when any point sits at 0, plain log otherwise. Returns the axis label's suffix."""
    positive = [x for x in xs if x > 0]
    if not positive:
        return ""
    if any(x == 0 for x in xs):
        ax.set_xscale("symlog", linthresh=min(positive), linscale=0.8)
        ax.set_xlim(left=0)
        return " (log; linear from 0 to the first value)"
    ax.set_xscale("log")
    return " (log scale)"


def _finish(ax: Axes, field: str, log_x: bool, title: str, curves: list[Curve] | None = None) -> None:
    suffix = _set_x_scale(ax, curves or []) if log_x else ""
    ax.set_xlabel(FIELD_LABELS.get(field, field) + suffix)
    ax.set_ylabel("Elo (ladder scale, 95% band)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="best")


def _unrecorded_note(ax: Axes, runs: list[Run], unit: Unit, drawn: list[Curve]) -> list[str]:
    """Name, on the panel, the learning configurations whose records lack `unit` (never a silent gap)."""
    shown = {c.label for c in drawn}
    missing = sorted({run.label for run in runs if run.learner != "random" and run.label not in shown
                      and not_recorded(run, unit)})
    if missing:
        ax.text(0.01, 0.01, _short("not recorded: " + ", ".join(missing), 110), transform=ax.transAxes, fontsize=7,
                va="bottom", color="#444444")
    return missing


def _recorded_curves(runs: list[Run], unit: Unit) -> list[Curve]:
    """Curves in `unit` of the configurations whose every run records it (`units.not_recorded`)."""
    kept = [run for run in runs if run.learner != "random" and not_recorded(run, unit) is None]
    return [c for c in _curves(kept, unit.field) if any(p.x > 0 for p in c.points)]


def plot_elo_vs(runs: list[Run], field: str, path: Path, title: str, log_x: bool = True,
                with_frontier: bool = False) -> Path | None:
    """Elo against one record field for every configuration; optionally each learner's compute frontier."""
    return _plot_curves(runs, _curves(runs, field), field, path, title, log_x, with_frontier)


def _plot_curves(runs: list[Run], curves: list[Curve], field: str, path: Path, title: str, log_x: bool = True,
                 with_frontier: bool = False, unit: Unit | None = None) -> Path | None:
    if not any(p.x > 0 or not log_x for c in curves for p in c.points):
        if unit is None or not any(run.learner != "random" for run in runs):
            return None
        curves = []  # a unit no configuration records: an empty panel that says so, not a missing plot
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(7.5, 4.8), layout="constrained")
        ax = fig.subplots()
        _draw_curves(ax, curves, log_x)
        if with_frontier:
            for learner in sorted({c.learner for c in curves} - {"random"}):
                env = frontier([c for c in curves if c.learner == learner], positive_only=False)
                if len(env) >= 1:
                    xs, ys = zip(*env)
                    ax.step(xs, ys, where="post", color=colour(learner), lw=3, alpha=0.35,
                            label=f"{learner} frontier")
        _floor_line(ax, runs)
        if unit is not None:
            _unrecorded_note(ax, runs, unit, curves)
        _finish(ax, field, log_x, title, curves)
        return _save(fig, path)


def plot_elo_vs_flops(runs: list[Run], path: Path, settings: ReportSettings) -> Path | None:
    """Elo against FLOPs while learning (train + inference), or with `flops_include_engine` the total with the
    Stockfish work done for the learner (configurations that do not record it are named on the plot)."""
    if settings.flops_include_engine:
        return _plot_curves(runs, _recorded_curves(runs, TOTAL_FLOPS), TOTAL_FLOPS.field, path,
                            "Elo against total compute (train + inference + engine), with each learner's frontier",
                            with_frontier=True, unit=TOTAL_FLOPS)
    return _plot_curves(runs, _curves(runs, LEARNING_FLOPS.field), LEARNING_FLOPS.field, path,
                        "Elo against training compute, with each learner's compute frontier", with_frontier=True)


def plot_elo_vs_samples(runs: list[Run], path: Path, settings: ReportSettings | None = None) -> Path | None:
    """Panels: positions and forward passes, shared by every learner that records them (SHARED_UNITS; those that do
    not are named on the panel), then each kind a learner counts its own way (games, rollouts, tasks, tokens)."""
    panels: list[tuple[str, list[Curve], Unit | None, str]] = []
    for unit in SHARED_UNITS:
        curves = _recorded_curves(runs, unit)
        if curves:
            panels.append((unit.field, curves, unit, f"Elo vs {unit.name}, every learner alike"))
    for field in SAMPLE_FIELDS:
        curves = [c for c in _curves(runs, field) if any(p.x > 0 for p in c.points)]
        if curves:
            panels.append((field, curves, None, f"Elo vs {FIELD_LABELS.get(field, field)}"))
    if not panels:
        return None
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(6.0 * min(2, len(panels)), 4.2 * math.ceil(len(panels) / 2)), layout="constrained")
        axes = fig.subplots(math.ceil(len(panels) / 2), min(2, len(panels)), squeeze=False).ravel()
        for ax, (field, curves, unit, title) in zip(axes, panels):
            _draw_curves(ax, curves, log_x=True)
            _floor_line(ax, runs)
            if unit is not None:
                _unrecorded_note(ax, runs, unit, curves)
            _finish(ax, field, True, title, curves)
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        return _save(fig, path)


def sample_panels(runs: list[Run]) -> list[str]:
    """The fields plot_elo_vs_samples draws a panel for, in order (for tests and captions)."""
    shared = [u.field for u in SHARED_UNITS if _recorded_curves(runs, u)]
    return shared + [f for f in SAMPLE_FIELDS if any(p.x > 0 for c in _curves(runs, f) for p in c.points)]


def _without(config: dict[str, Any], dropped: tuple[str, ...]) -> str:
    flat = flatten(config)
    return json.dumps({k: v for k, v in flat.items() if not any(k == d or k.startswith(d + ".") for d in dropped)},
                      sort_keys=True, default=str)


def checkpoint_groups(runs: list[Run]) -> dict[tuple[str, str], list[Point]]:
    """mcts evaluations grouped by fixed checkpoint: a `learner_info.checkpoint` when records carry one, else the
    same training configuration, seed and evaluation index. Keys are (identity, legend label); x is
    `learner_info.eval_simulations`."""
    groups: dict[tuple[str, str], list[Point]] = defaultdict(list)
    dropped = ("learner.eval_simulations", "run_dir", "progress", "resume", "runtime", "eval.concurrency",
               "stockfish", "hydra")
    for run in runs:
        if run.learner != "mcts":
            continue
        base = _without(run.config, dropped)
        for point in run_points(run, "learner_info.eval_simulations"):
            record = next(r for r in run.records if int(r.get("eval_index", 0)) == point.eval_index)
            checkpoint = (record.get("learner_info") or {}).get("checkpoint")
            if checkpoint:
                key = (str(checkpoint), _short(str(checkpoint)))
            else:
                key = (f"{base}|{run.seed}|{point.eval_index}", f"seed {run.seed}, after eval {point.eval_index}")
            groups[key].append(point)
    return groups


def conversion_results(runs: list[Run]) -> list[tuple[Run, dict[str, Any]]]:
    """`benchmarks/conversion.py --save` results in each run's `conversion/` folder (unreadable files skipped)."""
    out = []
    for run in runs:
        for path in sorted((run.path / "conversion").glob("*.json")):
            try:
                result = json.loads(path.read_text())
                if result.get("eval_simulations") is not None and "trained" in result.get("agents", {}):
                    out.append((run, result))
            except (OSError, ValueError, AttributeError):
                continue
    return out


def _plot_conversion(ax: Axes, results: list[tuple[Run, dict[str, Any]]]) -> None:
    """Win rate (checkmates) against the random mover, played to mate, against evaluation simulations; Wilson 95%
    intervals; the untrained agent of the same games dashed."""
    by_run: dict[Path, list[dict[str, Any]]] = defaultdict(list)
    for run, result in results:
        by_run[run.path].append(result)
    for k, (path, rows) in enumerate(sorted(by_run.items())):
        run = next(r for r, _ in results if r.path == path)
        for agent, style in (("trained", "-"), ("untrained", "--")):
            pts = sorted((int(r["eval_simulations"]), r["agents"][agent]) for r in rows if agent in r["agents"])
            if not pts:
                continue
            xs = [x for x, _ in pts]
            ys = [a["win_rate"] for _, a in pts]
            ax.errorbar(xs, ys, yerr=[[y - a["win_rate_ci"][0] for y, (_, a) in zip(ys, pts)],
                                      [a["win_rate_ci"][1] - y for y, (_, a) in zip(ys, pts)]],
                        color=colour(run.learner), ls=style, marker=MARKERS[k % 7], ms=4, capsize=2, lw=1.2,
                        label=_short(f"{run.label} seed {run.seed} {agent} ({pts[0][1]['games']} games)"))
    ax.set_xscale("log", base=2)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(FIELD_LABELS["learner_info.eval_simulations"] + " (log scale)")
    ax.set_ylabel("wins by checkmate (95% Wilson interval)")
    ax.set_title("vs the random mover, played to mate")
    ax.legend(fontsize=7)


def plot_train_vs_test(runs: list[Run], path: Path) -> Path | None:
    """Left: mcts Elo against evaluation simulations per fixed checkpoint. Middle: icl Elo against context tokens.
    Right, when `benchmarks/conversion.py --save` results exist: wins against the random mover against simulations."""
    mcts = checkpoint_groups(runs)
    icl = [(run, run_points(run, "learner_info.history_tokens")) for run in runs if run.learner == "icl"]
    icl = [(run, pts) for run, pts in icl if pts]
    conversion = conversion_results(runs)
    if not mcts and not icl and not conversion:
        return None
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(18 if conversion else 12, 4.5), layout="constrained")
        axes = fig.subplots(1, 3 if conversion else 2)
        left, right = axes[0], axes[1]
        if conversion:
            _plot_conversion(axes[2], conversion)
        labelled = 0
        for k, ((_, label), pts) in enumerate(sorted(mcts.items())):
            pts = sorted(pts, key=lambda p: p.x)
            lows = [p.low if math.isfinite(p.low) else p.elo for p in pts]
            highs = [p.high if math.isfinite(p.high) else p.elo for p in pts]
            traced = len({p.x for p in pts}) > 1
            left.errorbar([p.x for p in pts], [p.elo for p in pts],
                          yerr=[[p.elo - lo for p, lo in zip(pts, lows)], [hi - p.elo for p, hi in zip(pts, highs)]],
                          color=colour("mcts"), alpha=0.35 + 0.65 * (k + 1) / len(mcts), marker=MARKERS[k % 7],
                          ms=4, capsize=2, lw=1.2 if traced else 0, elinewidth=0.8,
                          label=label if traced and labelled < 10 else None)
            labelled += traced
        left.set_xscale("log", base=2)
        left.set_xlabel(FIELD_LABELS["learner_info.eval_simulations"] + " (log scale)")
        left.set_ylabel("Elo (95% interval)")
        left.set_title("mcts: test-time search for fixed checkpoints")
        if not mcts:
            left.text(0.5, 0.5, "no mcts runs", ha="center", transform=left.transAxes)
        elif not labelled:
            left.text(0.5, 0.02, "each checkpoint evaluated at one simulation count: sweep learner.eval_simulations",
                      ha="center", fontsize=7, transform=left.transAxes)
        else:
            left.legend(fontsize=7)
        for k, (run, pts) in enumerate(icl):
            memory = str((run.final.get("learner_info") or {}).get("memory", "context"))
            xs = [p.x for p in pts]
            right.fill_between(xs, [p.low if math.isfinite(p.low) else p.elo for p in pts],
                               [p.high if math.isfinite(p.high) else p.elo for p in pts], color=colour("icl"),
                               alpha=0.1, lw=0)
            right.plot(xs, [p.elo for p in pts], color=colour("icl"), ls=STYLES[k % 4], marker=MARKERS[k % 7], ms=3.5,
                       label=_short(f"{run.label} seed {run.seed} memory={memory}"))
        right.set_xlabel(FIELD_LABELS["learner_info.history_tokens"])
        right.set_ylabel("Elo (95% band)")
        right.set_title("icl: Elo against context")
        if icl:
            right.legend(fontsize=7)
        else:
            right.text(0.5, 0.5, "no icl runs", ha="center", transform=right.transAxes)
        return _save(fig, path)


def plot_heldout(runs: list[Run], path: Path) -> Path | None:
    """Seed claim 2's curves (issue 19): held-out success against FLOPs and against rollouts, one line per run, one
    colour per task family, chess families solid and the others dashed."""
    from bench.report.claims.claim2_measured import curve, family_of

    found = [(family_of(run), run) for run in runs]
    found = [(name, run) for name, run in found if name is not None and len(curve(run, "FLOPs")) >= 2]
    if not found:
        return None
    names = sorted({name for name, _ in found})
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(12, 4.5), layout="constrained")
        axes = fig.subplots(1, 2)
        for ax, unit in zip(axes, ("FLOPs", "rollouts")):
            labelled: set[str] = set()
            for name, run in sorted(found, key=lambda pair: (pair[0], pair[1].seed)):
                points = curve(run, unit)
                k = names.index(name)
                ax.plot([x for x, _ in points], [y for _, y in points], color=FAMILY_COLOURS[k % len(FAMILY_COLOURS)],
                        ls="-" if name.startswith("chess/") else "--", marker=MARKERS[k % len(MARKERS)], ms=3.5,
                        lw=1.2, label=_short(name) if name not in labelled else None)
                labelled.add(name)
            suffix = _log_x(ax, [x for _, r in found for x, _ in curve(r, unit)])
            ax.set_ylim(-0.03, 1.03)
            ax.set_xlabel(("FLOPs while learning (training + inference)" if unit == "FLOPs" else "rollouts") + suffix)
            ax.set_ylabel("held-out success (greedy, never trained on)")
            ax.set_title(f"task families: held-out success against {unit}")
            ax.legend(fontsize=7)
        return _save(fig, path)


PLOTS: dict[str, Callable[[list[Run], Path, ReportSettings], Path | None]] = {
    "elo_vs_flops.png": plot_elo_vs_flops,
    "elo_vs_samples.png": plot_elo_vs_samples,
    "elo_vs_wall.png": lambda runs, p, s: plot_elo_vs(runs, "compute.wall_s", p, "Elo against learner wall-clock"),
    "test_time.png": lambda runs, p, s: plot_train_vs_test(runs, p),
    "heldout.png": lambda runs, p, s: plot_heldout(runs, p),
}
"""File name -> plot function(runs, path, settings); the report writes them in this order."""


def captions(settings: ReportSettings) -> dict[str, str]:
    """Each plot's caption under these settings."""
    if settings.flops_include_engine:
        flops = ("Elo against total FLOPs while learning: training, the learner's own inference and the Stockfish "
                 "work done for it (compute.engine_flops: engine nodes x measured operations per node; "
                 "flops_include_engine=true); configurations whose records lack engine FLOPs, or used the engine "
                 "without counting it, are left off and named on the plot. ")
    else:
        flops = ("Elo against FLOPs while learning (training plus the learner's own inference; the engine's work "
                 "is left out: --set flops_include_engine=true adds it). ")
    return {
        "elo_vs_flops.png": flops + "One curve per configuration: seeds' mean Elo with the envelope of their 95% "
                            "intervals, thin lines per seed; the wide pale step is each learner's compute frontier "
                            "(best Elo reached at or below each FLOP count, across configurations). Triangles mark "
                            "Elo bounds off the ladder. " + ZERO_NOTE,
        "elo_vs_samples.png": "Elo against samples. First the units every learner is counted in alike: positions "
                              "(moves it chose while learning: both sides of mcts self-play, rlvr's rollout moves, "
                              "icl's moves in its training games) and network forward passes (search simulations "
                              "included); configurations whose records lack a unit are named on its panel. Then "
                              "each learner's own units: games (mcts self-play, icl games in context), rollouts and "
                              "tasks (rlvr), tokens. " + ZERO_NOTE,
        "elo_vs_wall.png": "Elo against the learner's wall-clock seconds (evaluation time excluded). " + ZERO_NOTE,
        "test_time.png": "Train-time vs test-time compute: mcts Elo against search simulations at evaluation, for "
                         "fixed checkpoints (same training configuration, seed and evaluation point); icl Elo "
                         "against the tokens of past games in its context; and, where a run holds "
                         "`benchmarks/conversion.py --save` results, its wins by checkmate against the random mover "
                         "(rule set mate, Wilson 95% intervals) against search simulations, the untrained agent of "
                         "the same games dashed.",
        "heldout.png": "Seed claim 2's yardstick: held-out success (greedy, on problems never trained on) against "
                       "the FLOPs and the rollouts spent learning, one line per run (seed), one colour per task "
                       "family; chess families solid, the others dashed. The table 'Seed claim 2 measured' reads the "
                       "compute where each line first closes 50% and 90% of its gap to 1.0. " + ZERO_NOTE,
    }


CAPTIONS = captions(ReportSettings())
"""The captions under the default settings."""

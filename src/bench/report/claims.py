"""The claims table: Elo thresholds, what each learner spent to first reach them, ratios, and the seed claims.

Definitions (each checkable by hand against metrics.jsonl):
- *floor*: the mean Elo of every `random` learner record; without random runs, the median Elo of the
  evaluations before learning (`eval_index` 0).
- *thresholds*: floor + k * step for k = 1, 2, ... up to the best Elo any learner's evaluation reached.
- *first reach* of a threshold T by one run, in a field x (samples, FLOPs): `point` is x at the first
  evaluation whose Elo >= T; `early` at the first whose 95% upper bound >= T; `late` at the first whose lower
  bound >= T. [early, late] is the interval: the run reached T no earlier than it could have and no later than
  it surely had, at the resolution of its evaluation points. Not reached: the run spent more than its budget.
- *seeds of a configuration*: point = median of the seeds' points (all must reach), early = the least early,
  late = the greatest late (all must reach).
- *a learner's reach*: its configuration with the least point (the compute frontier at T).
- *ratio* B/A (how many times more B spent than A): point = B.point / A.point; interval
  [B.early / A.late, B.late / A.early]. When B did not reach T the point is a lower bound (B's budget / A.point).
Verdicts never claim more than these intervals allow: "supported" needs the whole interval on the claim's side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import mean, median
from typing import Any

from bench.report.costs import ReportSettings
from bench.report.loading import Run, configurations, get
from bench.report.series import Curve, Point, configuration_curve, field_value, run_points
from bench.report.tables import Table, fmt_elo, fmt_num

FLOPS = "learning_flops"

VERDICTS = ("contradicted", "no evidence", "not supported", "suggested, not established", "supported",
            "supported strongly")
"""From weakest to strongest support; a claim with parts takes its weakest part's verdict."""


@dataclass(frozen=True)
class Reach:
    """Where a run (or configuration, or learner) first reached an Elo threshold, in one field's units."""

    point: float | None
    early: float | None
    late: float | None
    spent: float
    """The most of the field evaluated (a reach that never happened lies beyond it)."""
    seeds: int = 1
    label: str = ""


def first_reach(points: list[Point], threshold: float) -> Reach:
    def first(ok: Any) -> float | None:
        return next((p.x for p in points if ok(p)), None)

    return Reach(point=first(lambda p: p.elo >= threshold), early=first(lambda p: p.high >= threshold),
                 late=first(lambda p: p.low >= threshold), spent=max((p.x for p in points), default=0.0))


def combine_seeds(reaches: list[Reach], label: str = "") -> Reach:
    points = [r.point for r in reaches]
    earlies = [r.early for r in reaches if r.early is not None]
    lates = [r.late for r in reaches]
    return Reach(point=median(points) if None not in points else None,  # type: ignore[type-var]
                 early=min(earlies) if earlies else None,
                 late=max(lates) if None not in lates else None,  # type: ignore[type-var]
                 spent=min(r.spent for r in reaches), seeds=len(reaches), label=label)


def best_reach(reaches: list[Reach]) -> Reach | None:
    """The frontier at a threshold: the configuration with the least point (then least late, least early)."""
    if not reaches:
        return None
    inf = math.inf
    return min(reaches, key=lambda r: (r.point is None, r.point if r.point is not None else inf,
                                       r.late if r.late is not None else inf,
                                       r.early if r.early is not None else inf, -r.spent))


@dataclass(frozen=True)
class Ratio:
    """B's cost over A's at one threshold; `low`/`high` None mean unbounded (0 / infinity)."""

    point: float
    low: float | None
    high: float | None
    censored: bool = False
    """B never reached the threshold: `point` and `low` are lower bounds."""

    def text(self) -> str:
        bound = "> " if self.censored else ""
        low = fmt_num(self.low) if self.low is not None else "0"
        high = fmt_num(self.high) if self.high is not None else "∞"
        return f"{bound}{fmt_num(self.point)}× [{low}, {high}]"


def ratio(a: Reach, b: Reach) -> Ratio | None:
    """How many times more B spent than A to first reach the same threshold; None when A never reached it."""
    if a.point is None or a.point <= 0:
        return None
    censored = b.point is None
    b_point = b.spent if censored else b.point
    b_early = b.early if b.early is not None else b.spent
    low = b_early / a.late if a.late else None
    high = b.late / a.early if (b.late is not None and a.early) else None
    return Ratio(point=b_point / a.point, low=low, high=high, censored=censored)


def ratio_verdict(r: Ratio | None, far: float = 1.0) -> str:
    """Does the ratio support "A needed (far) fewer than B"? `far` > 1 asks for at least that factor."""
    if r is None:
        return "no evidence"
    if r.low is not None and far > 1 and r.low >= far:
        return "supported strongly"
    if r.low is not None and r.low > 1.0:
        return "supported"
    if r.high is not None and r.high < 1.0:
        return "contradicted"
    if r.point > 1.0:
        return "suggested, not established"
    return "not supported"


def weakest(verdicts: list[str]) -> str:
    return min(verdicts, key=VERDICTS.index)


# --------------------------------------------------------------------------------------------- thresholds
def floor_elo(runs: list[Run]) -> tuple[float | None, str]:
    """The Elo floor and how it was found."""
    random_elos = [float(r["elo"]) for run in runs if run.learner == "random" for r in run.records
                   if isinstance(r.get("elo"), (int, float)) and math.isfinite(r["elo"])]
    if random_elos:
        return mean(random_elos), f"mean of {len(random_elos)} evaluations of the random learner"
    starts = [float(r["elo"]) for run in runs for r in run.records
              if r.get("eval_index") == 0 and isinstance(r.get("elo"), (int, float)) and math.isfinite(r["elo"])]
    if starts:
        return median(starts), f"median of {len(starts)} evaluations before learning (no random runs given)"
    return None, "no evaluations"


def thresholds(runs: list[Run], settings: ReportSettings) -> tuple[list[float], float | None, str]:
    """Thresholds floor + k * step up to the best Elo a learning run reached; also the floor and its source."""
    floor, how = floor_elo(runs)
    if floor is None:
        return [], None, how
    best = max((float(r["elo"]) for run in runs if run.learner != "random" for r in run.records
                if isinstance(r.get("elo"), (int, float)) and math.isfinite(r["elo"])), default=-math.inf)
    out = []
    k = 1
    while floor + k * settings.threshold_step <= best and len(out) < settings.max_thresholds:
        out.append(floor + k * settings.threshold_step)
        k += 1
    return out, floor, how


# ------------------------------------------------------------------------------------------- analysis
@dataclass
class LearnerReach:
    learner: str
    threshold: float
    episodes: Reach | None
    """In the learner's episode unit (settings.episode_unit)."""
    flops: Reach | None
    unit: str


class Analysis:
    """Everything the claims need, computed once from the runs."""

    def __init__(self, runs: list[Run], settings: ReportSettings) -> None:
        self.runs = [run for run in runs if run.records]
        self.settings = settings
        self.configs = configurations(self.runs)
        self.thresholds, self.floor, self.floor_source = thresholds(self.runs, settings)
        self.learners = sorted({run.learner for run in self.runs})

    def learner_configs(self, learner: str) -> list[list[Run]]:
        return [group for group in self.configs.values() if group[0].learner == learner]

    def unit(self, learner: str) -> str:
        return self.settings.episode_unit.get(learner, "samples.games")

    def config_reach(self, group: list[Run], field: str, threshold: float) -> Reach | None:
        per_seed = [first_reach(pts, threshold) for pts in (run_points(run, field) for run in group) if pts]
        return combine_seeds(per_seed, label=group[0].label) if per_seed else None

    def learner_reach(self, learner: str, threshold: float) -> LearnerReach:
        unit = self.unit(learner)
        groups = self.learner_configs(learner)
        episodes = best_reach([r for g in groups if (r := self.config_reach(g, unit, threshold))])
        flops = best_reach([r for g in groups if (r := self.config_reach(g, FLOPS, threshold))])
        return LearnerReach(learner, threshold, episodes, flops, unit)

    def final_curves(self, learner: str | None = None) -> list[Curve]:
        """Per configuration, the curve over evaluation indices (every record carries one)."""
        curves = [configuration_curve(group, "eval_index") for group in self.configs.values()
                  if learner is None or group[0].learner == learner]
        return [c for c in curves if c is not None and c.points]

    def best_final(self, learner: str, runs: list[Run] | None = None) -> tuple[Curve, Point] | None:
        """The configuration whose last evaluation has the highest mean Elo, and that evaluation."""
        if runs is None:
            curves = self.final_curves(learner)
        else:
            groups = configurations(runs)
            curves = [c for g in groups.values() if (c := configuration_curve(g, "eval_index")) and c.points]
        if not curves:
            return None
        best = max(curves, key=lambda c: c.points[-1].elo)
        return best, best.points[-1]


# ---------------------------------------------------------------------------------------------- tables
def reach_text(reach: Reach | None) -> str:
    if reach is None:
        return "-"
    if reach.point is None:
        early = f"; upper bound crossed at {fmt_num(reach.early)}" if reach.early is not None else ""
        return f"not reached (> {fmt_num(reach.spent)}){early}"
    late = fmt_num(reach.late) if reach.late is not None else f"> {fmt_num(reach.spent)}"
    return f"{fmt_num(reach.point)} [{fmt_num(reach.early)}, {late}]"


def reach_table(analysis: Analysis) -> Table:
    s = analysis.settings
    rows = []
    for threshold in analysis.thresholds:
        for learner in analysis.learners:
            if learner == "random":
                continue
            lr = analysis.learner_reach(threshold=threshold, learner=learner)
            if lr.episodes is None and lr.flops is None:
                continue
            flops = lr.flops.point if lr.flops and lr.flops.point is not None else None
            tasks = None
            if learner == "rlvr":
                task_reach = best_reach([r for g in analysis.learner_configs(learner)
                                         if (r := analysis.config_reach(g, "samples.tasks", threshold))])
                tasks = task_reach.point if task_reach else None
            rows.append([
                f"{threshold:.0f} (floor+{threshold - (analysis.floor or 0):.0f})", learner,
                (lr.episodes or lr.flops).label if (lr.episodes or lr.flops) else "-",  # type: ignore[union-attr]
                str((lr.episodes or lr.flops).seeds),  # type: ignore[union-attr]
                f"{lr.unit.split('.')[-1]}: {reach_text(lr.episodes)}", reach_text(lr.flops),
                f"${fmt_num(s.flop_dollars(flops))}" if flops is not None else "-",
                (f"{fmt_num(tasks)} tasks = ${fmt_num(s.task_dollars(tasks))}" if tasks is not None else "-"),
            ])
    return Table(
        title="First reach: what each learner spent to first reach each Elo threshold",
        headers=["threshold", "learner", "configuration (frontier)", "seeds", "episodes: point [early, late]",
                 "training FLOPs: point [early, late]", "FLOPs in dollars", "as LLM RLVR (seeds' cost model)"],
        rows=rows,
        notes=[f"Floor: {fmt_num(analysis.floor)} Elo ({analysis.floor_source}); thresholds every "
               f"{s.threshold_step:g} Elo up to the best evaluation.",
               "point: first evaluation with Elo >= threshold; early: first whose 95% upper bound reaches it; late: "
               "first whose lower bound does (median / least / greatest over seeds). Per learner, the configuration "
               "that reached it first (the compute frontier).",
               "Training FLOPs count training and the learner's inference while learning (self-play search, rollouts, "
               "LM tokens)."],
    )


def ratio_pairs(learners: list[str]) -> list[tuple[str, str]]:
    """(A, B) pairs to compare: mcts vs rlvr first (the seed claim), then every other pair once."""
    order = [l for l in ("mcts", "rlvr", "icl") if l in learners] + sorted(
        l for l in learners if l not in ("mcts", "rlvr", "icl", "random"))
    return [(a, b) for i, a in enumerate(order) for b in order[i + 1:]]


def ratio_table(analysis: Analysis) -> Table:
    rows = []
    for threshold in analysis.thresholds:
        reaches = {l: analysis.learner_reach(l, threshold) for l in analysis.learners if l != "random"}
        for a, b in ratio_pairs(list(reaches)):
            for field, name in (("episodes", "episodes"), ("flops", "training FLOPs")):
                ra, rb = getattr(reaches[a], field), getattr(reaches[b], field)
                if ra is None or rb is None:
                    continue
                r = ratio(ra, rb)
                if r is None:
                    r2 = ratio(rb, ra)
                    if r2 is None:
                        continue
                    rows.append([f"{threshold:.0f}", f"{b} vs {a}", name, r2.text(),
                                 f"{a} needed {r2.text()} the {name} of {b}"])
                    continue
                rows.append([f"{threshold:.0f}", f"{a} vs {b}", name, r.text(),
                             f"{b} needed {r.text()} the {name} of {a}"])
    return Table(title="Ratios between learners at each threshold", headers=[
        "threshold", "pair", "measured in", "ratio [95%]", "reading"], rows=rows, notes=[
        "ratio = B's first-reach cost / A's; interval [B.early / A.late, B.late / A.early]; '>' when B never "
        "reached the threshold (its budget over A's point). Episodes are each learner's own unit (mcts games, "
        "rlvr rollouts, icl games)."])


def final_table(analysis: Analysis) -> Table:
    rows = []
    for curve in analysis.final_curves():
        group = next(g for g in analysis.configs.values() if g[0].label == curve.label and g[0].learner == curve.learner)
        last = curve.points[-1]
        finals = [run.final for run in group]
        rows.append([curve.learner, curve.label, ", ".join(map(str, sorted(curve.seed_ids))),
                     fmt_elo(last.elo, last.low, last.high, last.edge),
                     f"{min(p.elo for s in curve.seeds for p in s if p.eval_index == last.eval_index):.0f} … "
                     f"{max(p.elo for s in curve.seeds for p in s if p.eval_index == last.eval_index):.0f}",
                     fmt_num(mean(field_value(r, FLOPS) or 0.0 for r in finals)),
                     fmt_num(mean(float(get(r, "compute.wall_s", 0.0) or 0.0) for r in finals)),
                     str(sum(run.pgn.games for run in group))])
    return Table(title="Final evaluation per configuration", headers=[
        "learner", "configuration", "seeds", "Elo (mean) [95% envelope]", "seed range", "training FLOPs (mean)",
        "wall s (mean)", "games in PGN"], rows=rows, notes=[
        "Elo on the ladder's scale (anchored to Stockfish UCI_Elo); ≥ / ≤ mark bounds off the ladder's ends."])


# ---------------------------------------------------------------------------------------------- seed claims
@dataclass(frozen=True)
class ClaimLine:
    number: int
    claim: str
    verdict: str
    evidence: str


CLAIMS = {
    1: "In-context learning cannot reach strong play and is weaker than RLVR at the strength of skills it instills.",
    2: "Chess takes a lot of RLVR compute compared with other RLVR tasks.",
    3: "MCTS self-play is far more sample-efficient than RLVR.",
    4: "Continual learning in near-term forms (per-user LoRA, recurrent state) performs only at the level of "
       "in-context learning.",
}


def _elo(point: Point) -> str:
    return fmt_elo(point.elo, point.low, point.high, point.edge)


def claim_icl(analysis: Analysis) -> ClaimLine:
    s = analysis.settings
    icl = [run for run in analysis.runs if run.learner == "icl"]
    if not icl:
        return ClaimLine(1, CLAIMS[1], "no evidence", "no icl runs were given.")
    records = [r for run in icl for r in run.records if isinstance(r.get("elo"), (int, float))]
    highs = [float((r.get("elo_ci") or [0, r["elo"]])[1]) for r in records]
    lows = [float((r.get("elo_ci") or [r["elo"], 0])[0]) for r in records]
    above = [r for r in records if r.get("edge") == "above_top"]
    games = max(float(get(r, "samples.games", 0) or 0) for r in records)
    tokens = max(float(get(r, "samples.tokens", 0) or 0) for r in records)
    if max(lows) >= s.strong_elo:
        part_a, text_a = "contradicted", f"an icl evaluation's 95% lower bound reaches strong play ({s.strong_elo:.0f})"
    elif max(highs) < s.strong_elo and not above:
        part_a = "supported"
        text_a = (f"no icl evaluation's 95% interval reaches strong play ({s.strong_elo:.0f}; highest upper bound "
                  f"{max(highs):.0f}) after up to {fmt_num(games)} games and {fmt_num(tokens)} tokens of learning: "
                  f"a bound on these runs and budgets, not proof that no in-context learner could")
    else:
        part_a, text_a = "not supported", f"an icl 95% interval reaches strong play ({s.strong_elo:.0f})"
    best_icl, best_rlvr = analysis.best_final("icl"), analysis.best_final("rlvr")
    if best_rlvr is None:
        part_b, text_b = "no evidence", "no rlvr runs to compare with"
    else:
        (ci, pi), (cr, pr) = best_icl, best_rlvr  # type: ignore[misc]
        text_b = f"best final Elo: rlvr {_elo(pr)} ({cr.label}) vs icl {_elo(pi)} ({ci.label})"
        if pr.low > pi.high:
            part_b = "supported"
        elif pi.low > pr.high:
            part_b = "contradicted"
        elif pr.elo > pi.elo:
            part_b, text_b = "suggested, not established", text_b + "; the intervals overlap"
        else:
            part_b, text_b = "not supported", text_b + "; icl's estimate is not below rlvr's"
    verdict = weakest([part_a, part_b])
    return ClaimLine(1, CLAIMS[1], verdict, f"(a) {part_a}: {text_a}. (b) {part_b}: {text_b}.")


def claim_rlvr_cost(analysis: Analysis) -> ClaimLine:
    s = analysis.settings
    groups = analysis.learner_configs("rlvr")
    if not groups:
        return ClaimLine(2, CLAIMS[2], "no evidence", "no rlvr runs were given.")
    reached = None
    for threshold in reversed(analysis.thresholds):
        reach = best_reach([r for g in groups if (r := analysis.config_reach(g, "samples.tasks", threshold))])
        if reach is not None and reach.point is not None:
            reached = (threshold, reach)
            break
    if reached is None:
        spent = max(float(get(run.final, "samples.tasks", 0) or 0) for g in groups for run in g)
        first = f"floor+{s.threshold_step:g}" if analysis.thresholds else "any threshold above the floor"
        chess = (f"rlvr did not reach {first} within {fmt_num(spent)} tasks (for an LLM at the seeds' "
                 f"{s.tokens_per_task:,.0f} tokens per task: more than ${fmt_num(s.task_dollars(spent))})")
        tasks_low, tasks_point, tasks_high = spent, spent, None
    else:
        threshold, reach = reached
        tasks_low, tasks_point, tasks_high = reach.early, reach.point, reach.late
        chess = (f"rlvr first reached {threshold:.0f} (floor+{threshold - (analysis.floor or 0):.0f}) after "
                 f"{reach_text(reach)} tasks; for an LLM at the seeds' {s.tokens_per_task:,.0f} tokens per task that is "
                 f"{fmt_num((tasks_point or 0) * s.tokens_per_task)} tokens = ${fmt_num(s.task_dollars(tasks_point or 0))}")
    if not s.other_rlvr_tasks:
        return ClaimLine(2, CLAIMS[2], "no evidence", chess + ". No reference figures for other RLVR tasks are "
                         "configured (other_rlvr_tasks in conf/report/default.yaml), so the comparison the claim "
                         "makes cannot be judged from this data.")
    parts, verdicts = [], []
    for other in s.other_rlvr_tasks:
        if not other.tasks:
            continue
        if tasks_low is not None and tasks_low > other.tasks:
            v = "supported"
        elif tasks_high is not None and tasks_high < other.tasks:
            v = "contradicted"
        elif tasks_point is not None and tasks_point > other.tasks:
            v = "suggested, not established"
        else:
            v = "not supported"
        verdicts.append(v)
        parts.append(f"{other.name}: {fmt_num(other.tasks)} tasks ({other.source}) -> {v}")
    return ClaimLine(2, CLAIMS[2], weakest(verdicts) if verdicts else "no evidence", chess + ". " + "; ".join(parts))


def claim_sample_efficiency(analysis: Analysis) -> ClaimLine:
    s = analysis.settings
    if "mcts" not in analysis.learners or "rlvr" not in analysis.learners:
        missing = [l for l in ("mcts", "rlvr") if l not in analysis.learners]
        return ClaimLine(3, CLAIMS[3], "no evidence", f"no {' or '.join(missing)} runs were given.")
    # The highest threshold both learners reached; failing that, the highest mcts reached (rlvr censored).
    both: tuple[float, Ratio, Ratio | None] | None = None
    censored: tuple[float, Ratio, Ratio | None] | None = None
    for threshold in analysis.thresholds:
        a, b = analysis.learner_reach("mcts", threshold), analysis.learner_reach("rlvr", threshold)
        if a.episodes is None or b.episodes is None:
            continue
        r = ratio(a.episodes, b.episodes)
        if r is not None:
            entry = (threshold, r, ratio(a.flops, b.flops) if a.flops and b.flops else None)
            if r.censored:
                censored = entry
            else:
                both = entry
    best = both or censored
    if best is None:
        return ClaimLine(3, CLAIMS[3], "no evidence", "mcts did not reach any threshold above the floor, so no "
                         "first-reach ratio exists.")
    threshold, r, rf = best
    reaches = {l: analysis.learner_reach(l, threshold).episodes for l in ("mcts", "rlvr")}
    seeds = {l: reach.seeds if reach else 0 for l, reach in reaches.items()}
    verdict = ratio_verdict(r, s.far_factor)
    text = (f"at {threshold:.0f} (floor+{threshold - (analysis.floor or 0):.0f}), rlvr needed {r.text()} the episodes "
            f"of mcts ({analysis.unit('rlvr').split('.')[-1]} vs {analysis.unit('mcts').split('.')[-1]}); "
            f"'far' means ≥ {s.far_factor:g}×")
    if verdict == "supported":
        text += (f"; so mcts is more sample-efficient at 95%, but 'far' (≥ {s.far_factor:g}×) is not established "
                 "(that would read 'supported strongly')")
    if rf is not None:
        text += f"; in training FLOPs: {rf.text()}"
    if min(seeds.values()) < 2:
        text += "; one seed only: variation between seeds is not measured"
    return ClaimLine(3, CLAIMS[3], verdict, text + ".")


def claim_continual(analysis: Analysis) -> ClaimLine:
    icl = [run for run in analysis.runs if run.learner == "icl"]
    kinds: dict[str, list[Run]] = {}
    for run in icl:
        kind = str(get(run.final, "learner_info.memory") or get(run.config, "learner.memory") or "context")
        kinds.setdefault(kind, []).append(run)
    context = kinds.pop("context", [])
    if not kinds:
        return ClaimLine(4, CLAIMS[4], "no evidence", "no icl runs with a continual-learning memory (learner_info."
                         "memory lora, both or another non-context form) were given; run `learner=icl learner.memory=lora` "
                         "(and `memory=both`) beside `memory=context` to answer it." + (f" {len(context)} context-only icl runs are present." if context else ""))
    if not context:
        return ClaimLine(4, CLAIMS[4], "no evidence", "no context-only icl runs to compare with.")
    base_curve, base = analysis.best_final("icl", context)  # type: ignore[misc]
    parts, verdicts = [], []
    for kind, runs in sorted(kinds.items()):
        curve, point = analysis.best_final("icl", runs)  # type: ignore[misc]
        if point.low > base.high:
            v, how = "contradicted", "above in-context learning"
        elif point.high < base.low:
            v, how = "supported", "below in-context learning"
        else:
            v, how = "suggested, not established", "no difference detected (intervals overlap; equality is not shown)"
        verdicts.append(v)
        parts.append(f"memory={kind}: {_elo(point)} vs context {_elo(base)}: {how}")
    return ClaimLine(4, CLAIMS[4], weakest(verdicts), "; ".join(parts) + ".")


def seed_claims(analysis: Analysis) -> list[ClaimLine]:
    return [claim_icl(analysis), claim_rlvr_cost(analysis), claim_sample_efficiency(analysis),
            claim_continual(analysis)]


def claims_table(analysis: Analysis) -> Table:
    return Table(title="The seed claims: what this data supports", headers=["#", "claim", "verdict", "evidence"],
                 rows=[[str(c.number), c.claim, c.verdict, c.evidence] for c in seed_claims(analysis)], notes=[
                     "Verdicts, weakest to strongest: " + "; ".join(VERDICTS) + ". 'supported' needs the whole 95% "
                     "interval on the claim's side; a claim with parts takes its weakest part's verdict."])


def cost_table(settings: ReportSettings) -> Table:
    return Table(title="Cost model (conf/report/default.yaml; override with --set KEY=VALUE)",
                 headers=["parameter", "value"], rows=[[k, v] for k, v in settings.rows()])

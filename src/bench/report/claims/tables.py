"""The tables beside the claims: first reach, ratios, final evaluations, learner-vs-learner differences, costs."""

from __future__ import annotations

import math
from statistics import mean

from bench.report.claims.analysis import FLOPS, Analysis, Final, elo_text
from bench.report.claims.reach import REACH_NOTE, best_reach, ratio, reach_text
from bench.report.compare import difference, same_scale
from bench.report.costs import ReportSettings
from bench.report.loading import get
from bench.report.series import field_value
from bench.report.tables import Table, fmt_num
from bench.report.units import (FORWARD_PASSES, NOT_RECORDED, POSITIONS, RATIO_UNITS, TOTAL_FLOPS, TRAIN_FLOPS,
                                knowledge_text, not_recorded, unit_label)


def reach_table(analysis: Analysis) -> Table:
    s = analysis.settings
    rows = []
    for scale in analysis.scales.values():
        for threshold in analysis.thresholds(scale):
            for learner in analysis.learners:
                if learner == "random" or not analysis.runs_on(scale, learner):
                    continue
                lr = analysis.learner_reach(learner, threshold, scale)
                if lr.episodes is None and lr.flops is None:
                    continue
                any_reach = lr.episodes or lr.flops
                pos, why = analysis.unit_reach(learner, POSITIONS, threshold, scale)
                positions = reach_text(pos) if pos is not None else f"{NOT_RECORDED} ({why})"
                flops = lr.flops.point if lr.flops and lr.flops.point is not None else None
                tasks = None
                if learner == "rlvr":
                    task_reach = best_reach([r for g in analysis.learner_configs(learner, scale)
                                             if (r := analysis.config_reach(g, "samples.tasks", threshold))])
                    tasks = task_reach.point if task_reach else None
                rows.append([
                    scale.rules, threshold.label, learner, any_reach.label, str(any_reach.seeds),  # type: ignore[union-attr]
                    f"{lr.unit.split('.')[-1]}: {reach_text(lr.episodes)}", positions, reach_text(lr.flops),
                    f"{any_reach.mdd:.0f}" if any_reach.mdd is not None and math.isfinite(any_reach.mdd) else "∞",  # type: ignore[union-attr]
                    f"${fmt_num(s.flop_dollars(flops))}" if flops is not None else "-",
                    (f"{fmt_num(tasks)} tasks = ${fmt_num(s.task_dollars(tasks))}" if tasks is not None else "-"),
                ])
    source = ("fixed Elo values (thresholds in conf/report.yaml)" if s.thresholds else
              "the calibrated ratings of the ladder's rungs above its bottom one")
    return Table(
        title="First reach: what each learner spent to first reach each Elo threshold",
        headers=["rules", "threshold", "learner", "configuration (frontier)", "seeds", "episodes: point [early, late]",
                 "positions: point [early, late]", "FLOPs while learning: point [early, late]", "smallest detectable difference (Elo)", "FLOPs in dollars",
                 "as LLM RLVR (seeds' cost model)"],
        rows=rows,
        notes=[f"Thresholds: {source}, up to the best evaluation on each scale (rules + calibration).", REACH_NOTE,
               "Per learner, the configuration that reached it first (the compute frontier) in episodes; positions "
               "(moves the learner chose while learning, every learner alike) and FLOPs take their own frontier. "
               "FLOPs while learning count training and the learner's inference while learning (self-play search, "
               "rollouts, LM tokens); the engine's work is in the ratio table's total FLOPs."],
    )


def ratio_pairs(learners: list[str]) -> list[tuple[str, str]]:
    """(A, B) pairs to compare: mcts vs rlvr first (the seed claim), then every other pair once."""
    order = [l for l in ("mcts", "rlvr", "icl") if l in learners] + sorted(
        l for l in learners if l not in ("mcts", "rlvr", "icl", "random"))
    return [(a, b) for i, a in enumerate(order) for b in order[i + 1:]]


def ratio_table(analysis: Analysis) -> Table:
    """Every pair of learners at every threshold, in every unit (`units.RATIO_UNITS`); a unit either learner does
    not record gets one 'not recorded' row per pair and scale instead of silence."""
    rows = []
    for scale in analysis.scales.values():
        learners = [l for l in analysis.learners if l != "random" and analysis.runs_on(scale, l)]
        unrecorded: set[tuple[str, str, str]] = set()
        for threshold in analysis.thresholds(scale):
            for a, b in ratio_pairs(learners):
                for unit in RATIO_UNITS:
                    (ra, why_a), (rb, why_b) = (analysis.unit_reach(l, unit, threshold, scale) for l in (a, b))
                    if ra is None or rb is None:
                        if (a, b, unit.name) not in unrecorded:
                            unrecorded.add((a, b, unit.name))
                            why = "; ".join(w for w in (why_a, why_b) if w)
                            rows.append([scale.rules, "every threshold", f"{a} vs {b}", unit.name, NOT_RECORDED,
                                         f"{NOT_RECORDED} ({why})"])
                        continue
                    x, y, r = a, b, ratio(ra, rb)
                    if r is None:
                        x, y, r = b, a, ratio(rb, ra)
                        if r is None:
                            continue
                    rows.append([scale.rules, threshold.label, f"{x} vs {y}", unit.name, r.text(),
                                 f"{y} needed {r.text()} the {unit.name} of {x}"])
    return Table(title="Ratios between learners at each threshold, in every unit (same rules and calibration only)",
                 headers=["rules", "threshold", "pair", "measured in", "ratio [95%]", "reading"], rows=rows, notes=[
        "ratio = B's first-reach cost / A's; interval [B.early / A.late, B.late / A.early]; '>' when B never "
        "reached the threshold (its budget over A's point). Episodes are each learner's own unit (mcts games, "
        "rlvr rollouts, icl games); positions, forward passes and FLOPs are counted the same way for every learner "
        "(README glossary). 'not recorded': a learner's records lack the unit or keep it at 0 after learning. "
        "Learners on different scales are not paired."])


def learners_table(analysis: Analysis) -> Table:
    """Per configuration: the outside knowledge its learning used, and which units its records carry."""
    units = (POSITIONS, FORWARD_PASSES, TRAIN_FLOPS, TOTAL_FLOPS)
    rows = []
    for group in analysis.configs.values():
        cells = []
        for unit in units:
            reasons = [why for run in group if (why := not_recorded(run, unit))]
            cells.append("- (does not learn)" if group[0].learner == "random" else
                         "recorded" if not reasons else f"{NOT_RECORDED}: {reasons[0]}")
        rows.append([group[0].learner, group[0].label, ", ".join(str(run.seed) for run in group),
                     knowledge_text(group), *cells])
    return Table(title="Learners: outside knowledge and the units their records carry", headers=[
        "learner", "configuration", "seeds", "outside knowledge (while learning)",
        *(unit_label(u) for u in units)], rows=rows, notes=[
        "Outside knowledge: what the learning used beyond the rules of chess (learner_info.outside_knowledge; "
        "vocabulary in bench.compute.OUTSIDE_KNOWLEDGE); 'not recorded' for records older than that field. A unit "
        "is recorded when the last evaluation after learning carries it, above 0 except training FLOPs (in-context "
        "learning trains nothing); total FLOPs also need the engine's work counted wherever the learning used "
        "Stockfish (bench.report.units)."])


def final_table(analysis: Analysis) -> Table:
    rows = []
    for group in analysis.configs.values():
        final = analysis.final(group)
        if final is None:
            continue
        r = final.rated
        games = (f"[{r.elo - 1.96 * r.se_games:.0f}, {r.elo + 1.96 * r.se_games:.0f}]"
                 if math.isfinite(r.se_games) else "-")
        finals = [run.final for run in group]
        rows.append([final.learner, final.label, ", ".join(str(run.seed) for run in group), final.scale.rules,
                     elo_text(r, final.scale).rsplit(" (rules", 1)[0], games,
                     f"{min(x.elo for x in final.seeds):.0f} … {max(x.elo for x in final.seeds):.0f}",
                     fmt_num(mean(field_value(x, FLOPS) or 0.0 for x in finals)),
                     fmt_num(mean(float(get(x, "compute.wall_s", 0.0) or 0.0) for x in finals)),
                     str(sum(run.pgn.games for run in group)), knowledge_text(group)])
    return Table(title="Final evaluation per configuration", headers=[
        "learner", "configuration", "seeds", "rules", "Elo (seeds' mean) [95% absolute]", "[95% given the ladder]",
        "seed range", "FLOPs while learning (mean)", "wall s (mean)", "games in PGN",
        "outside knowledge (while learning)"], rows=rows, notes=[
        "Absolute: game noise plus the ladder's error relative to its anchor (Stockfish UCI_Elo), with the "
        "calibration's full covariance; it answers 'what is this rating on the anchor's scale?'. Given the ladder: "
        "game noise only; it answers 'where does this sit on this ladder?', and is what differences between "
        "learners on one ladder carry. ≥ / ≤ mark one-sided bounds off the ladder's ends."])


def difference_table(analysis: Analysis) -> Table:
    """Every pair of learners' best final configurations: a difference test on a shared scale, else no verdict."""
    finals: list[Final] = []
    for scale in analysis.scales.values():
        for learner in analysis.learners:
            f = analysis.best_final(learner, scale)
            if f is not None:
                finals.append(f)
    rows = []
    for i, a in enumerate(finals):
        for b in finals[i + 1:]:
            if a.learner == b.learner:
                continue
            pair = f"{a.learner} vs {b.learner}"
            if not same_scale(a.scale, b.scale):
                rows.append([pair, f"{a.elo_text()} vs {b.elo_text()}", "-", "-", "-",
                             f"different scales ({a.scale.label} vs {b.scale.label}): no verdict between them"])
                continue
            d, how = difference(a.rated, b.rated, a.scale)
            reading = (f"{a.learner} above {b.learner}" if d.low > 0 else f"{a.learner} below {b.learner}"
                       if d.high < 0 else "inconclusive: the interval spans 0")
            mdd = f"{d.mdd:.0f}" if math.isfinite(d.mdd) else "∞"
            rows.append([pair, f"{a.elo_text()} vs {b.elo_text()}",
                         f"{d.diff:+.0f} [{d.low:+.0f}, {d.high:+.0f}]" if math.isfinite(d.se) else f"{d.diff:+.0f}",
                         f"{d.p_value:.2g}", mdd, f"{reading}; {how}"])
    return Table(title="Learners compared: best final configurations, A - B", headers=[
        "pair", "Elo (rules)", "difference [95%]", "p", "smallest detectable difference", "reading"], rows=rows,
        notes=["Difference of two ratings on one ladder: Var = se_games_A^2 + se_games_B^2 + (w_A - w_B)^T Sigma "
               "(w_A - w_B) (bench.elo.rating_difference), so the ladder error both share cancels. Smallest "
               "detectable difference: 80% power, two-sided 5%. Learners on different rules or calibrations are "
               "not compared."])


def cost_table(settings: ReportSettings) -> Table:
    return Table(title="Cost model (conf/report.yaml; override with --set KEY=VALUE)",
                 headers=["parameter", "value"], rows=[[k, v] for k, v in settings.rows()])

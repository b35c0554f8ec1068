"""Seed claim 3: MCTS self-play is far more sample-efficient than RLVR.

On a scale mcts and rlvr share: the highest threshold both reached (else the highest mcts reached, rlvr censored),
the ratio of episodes rlvr needed over mcts's with its interval (`reach.ratio`). "supported strongly" when the
interval's lower end is at least `far_factor`, "supported" when above 1, "contradicted" below 1, else
"inconclusive". The smallest detectable difference from the threshold at each learner's reach is stated.
"""

from __future__ import annotations

from bench.report.claims.analysis import Analysis
from bench.report.claims.base import ClaimLine
from bench.report.claims.reach import Ratio, Threshold, ratio, ratio_verdict

CLAIM = "MCTS self-play is far more sample-efficient than RLVR."


def claim_sample_efficiency(analysis: Analysis) -> ClaimLine:
    s = analysis.settings
    missing = [l for l in ("mcts", "rlvr") if l not in analysis.learners]
    if missing:
        return ClaimLine(3, CLAIM, "no evidence", f"no {' or '.join(missing)} runs were given.")
    shared = analysis.scales_of("mcts", "rlvr")
    if not shared:
        return ClaimLine(3, CLAIM, "different scales", "mcts and rlvr were evaluated on different scales (rules or "
                         "ladder calibration differ): no verdict between them.")
    scale = shared[0]
    both: tuple[Threshold, Ratio, Ratio | None] | None = None
    censored: tuple[Threshold, Ratio, Ratio | None] | None = None
    for threshold in analysis.thresholds(scale):
        a, b = analysis.learner_reach("mcts", threshold, scale), analysis.learner_reach("rlvr", threshold, scale)
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
        return ClaimLine(3, CLAIM, "no evidence", f"mcts did not reach any threshold on {scale.label}, so no "
                         "first-reach ratio exists.")
    threshold, r, rf = best
    reaches = {l: analysis.learner_reach(l, threshold, scale).episodes for l in ("mcts", "rlvr")}
    verdict = ratio_verdict(r, s.far_factor)
    text = (f"at {threshold.label}, rules {scale.rules}: rlvr needed {r.text()} the episodes of mcts "
            f"({analysis.unit('rlvr').split('.')[-1]} vs {analysis.unit('mcts').split('.')[-1]}); 'far' means "
            f"≥ {s.far_factor:g}×")
    if verdict == "supported":
        text += (f"; so mcts is more sample-efficient at 95%, but 'far' (≥ {s.far_factor:g}×) is not established "
                 "(that would read 'supported strongly')")
    if verdict == "inconclusive":
        text += "; the interval spans 1: which needed fewer episodes is below what these evaluations can tell"
    if rf is not None:
        text += f"; in training FLOPs: {rf.text()}"
    mdds = [f"{l} {reach.mdd:.0f} Elo" for l, reach in reaches.items() if reach is not None and reach.mdd is not None]
    if mdds:
        text += "; smallest detectable difference from the threshold at each reach: " + ", ".join(mdds)
    if min(reach.seeds if reach else 0 for reach in reaches.values()) < 2:
        text += "; one seed only: variation between seeds is not measured"
    return ClaimLine(3, CLAIM, verdict, text + ".")

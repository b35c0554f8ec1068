"""The seed claims, one small unit each, beside the shared pieces they use.

  reach.py      thresholds, first reach with intervals that narrow as seeds are added, ratios
  analysis.py   runs grouped by scale (rules + calibration) and configuration; finals, reaches
  claim1_icl.py, claim2_rlvr_cost.py, claim3_sample_efficiency.py, claim4_continual.py   one claim each
  tables.py     first-reach, ratio (every unit), final, learners (outside knowledge, units recorded),
                learner-difference and cost tables

Differences, power and verdict words live in `bench.report.compare`; scales in `bench.report.scales`; units in
`bench.report.units`.
"""

from __future__ import annotations

from bench.report.claims.analysis import FLOPS, Analysis, Final, LearnerReach
from bench.report.claims.base import ClaimLine
from bench.report.claims.claim1_icl import claim_icl
from bench.report.claims.claim2_rlvr_cost import claim_rlvr_cost
from bench.report.claims.claim3_sample_efficiency import claim3_table, claim_sample_efficiency
from bench.report.claims.claim4_continual import claim_continual
from bench.report.claims.reach import (Ratio, Reach, Threshold, best_reach, first_reach, ratio, ratio_verdict,
                                       reach_text)
from bench.report.claims.tables import (cost_table, difference_table, final_table, learners_table, ratio_pairs,
                                        ratio_table, reach_table)
from bench.report.compare import VERDICTS, weakest
from bench.report.tables import Table


def seed_claims(analysis: Analysis) -> list[ClaimLine]:
    return [claim_icl(analysis), claim_rlvr_cost(analysis), claim_sample_efficiency(analysis),
            claim_continual(analysis)]


def claims_table(analysis: Analysis) -> Table:
    return Table(title="The seed claims: what this data supports", headers=["#", "claim", "verdict", "evidence"],
                 rows=[[str(c.number), c.claim, c.verdict, c.evidence] for c in seed_claims(analysis)], notes=[
                     "Verdicts, weakest to strongest: " + "; ".join(VERDICTS) + ". 'supported' needs the whole 95% "
                     "interval on the claim's side; 'inconclusive' means the interval spans both sides, i.e. the "
                     "effect is below the smallest difference the data can detect (80% power), which each verdict "
                     "states; a claim with parts takes its weakest part's verdict (claim 3's parts are its units: "
                     "positions, forward passes, training FLOPs, total FLOPs; see its table). Learners are compared "
                     "only when their games share rules and ladder calibration."])


__all__ = ["FLOPS", "Analysis", "ClaimLine", "Final", "LearnerReach", "Ratio", "Reach", "Threshold", "VERDICTS",
           "best_reach", "claim3_table", "claim_continual", "claim_icl", "claim_rlvr_cost",
           "claim_sample_efficiency", "claims_table", "cost_table", "difference_table", "final_table",
           "first_reach", "learners_table", "ratio", "ratio_pairs", "ratio_table", "ratio_verdict", "reach_table",
           "reach_text", "seed_claims", "weakest"]

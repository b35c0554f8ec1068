"""Claim 3 judged in every unit on the synthetic tree, against a hand computation.

At r2 (-200), the highest rung both reached (test_reach.py): mcts (64 simulations, 2 seeds) first reaches it at
100 games [early 100, late 1000]; rlvr at 10,000 rollouts [10,000, never] (its budget, 10,000, is the open end).
Every counter grows linearly with the episodes (synthetic.MCTS_PER_GAME, RLVR_PER_ROLLOUT), so in a unit where one
mcts game costs m and one rlvr rollout r, rlvr / mcts = (10,000 r) / (100 m) with interval
[10,000 r / (1,000 m), ∞] (rlvr.late is open):
  episodes (games vs rollouts, never decides)  m = 1,   r = 1:      100× [10, ∞]    supported strongly
  positions                                    m = 40,  r = 5:      12.5× [1.25, ∞] supported
  forward passes                               m = 640, r = 3:      0.469× [0.0469, ∞] inconclusive
  training FLOPs                               m = 5e8, r = 1e8:    20× [2, ∞]      supported
  total FLOPs (train + inference + engine)     m = 1e9, r = 1.12e8: 11.2× [1.12, ∞] supported
The claim takes the weakest deciding unit: inconclusive (forward passes), though games vs rollouts alone read
'supported strongly' (what the reference report printed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report.claims import Analysis, claim3_table, claim_sample_efficiency
from bench.report.claims.claim3_sample_efficiency import Judgement, judge
from bench.report.costs import load_settings
from bench.report.claims.reach import config_points
from bench.report.loading import load_runs
from bench.report.units import POSITIONS, TOTAL_FLOPS, not_recorded
from tests.report.synthetic import config, make_tree, record, write_run


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    return Analysis(load_runs([make_tree(tmp_path_factory.mktemp("syn"))]), load_settings())


@pytest.fixture(scope="module")
def old(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    """Records from before issue 14: no forward passes, engine FLOPs or outside knowledge."""
    return Analysis(load_runs([make_tree(tmp_path_factory.mktemp("old"), issue14=False)]), load_settings())


def units(analysis: Analysis) -> dict[str, tuple[str, str]]:
    j = judge(analysis)
    assert isinstance(j, Judgement), j
    return {u.unit.name: (u.ratio.text() if u.ratio else u.why, u.verdict) for u in j.units}


def test_every_unit_matches_the_hand_computation(analysis: Analysis) -> None:
    assert units(analysis) == {
        "episodes (games vs rollouts)": ("100× [10, ∞]", "supported strongly"),
        "positions": ("12.5× [1.25, ∞]", "supported"),
        "forward passes": ("0.469× [0.0469, ∞]", "inconclusive"),
        "training FLOPs": ("20× [2, ∞]", "supported"),
        "total FLOPs (train + inference + engine)": ("11.2× [1.12, ∞]", "supported"),
    }


def test_the_claim_takes_the_weakest_deciding_unit(analysis: Analysis) -> None:
    claim = claim_sample_efficiency(analysis)
    assert claim.verdict == "inconclusive"  # games vs rollouts alone would read 'supported strongly'
    assert claim.evidence.startswith("at r2 (-200), rules synthetic, rlvr / mcts to first reach it, unit by unit: ")
    for part in ("positions: 12.5× [1.25, ∞] -> supported", "forward passes: 0.469× [0.0469, ∞] -> inconclusive",
                 "training FLOPs: 20× [2, ∞] -> supported",
                 "total FLOPs (train + inference + engine): 11.2× [1.12, ∞] -> supported",
                 "episodes (games vs rollouts), shown, never decides: 100× [10, ∞] -> supported strongly",
                 "smallest detectable difference from the threshold at each reach: mcts 101 Elo, rlvr 101 Elo",
                 "outside knowledge used while learning: mcts: material adjudication; rlvr: engine-judged rewards"):
        assert part in claim.evidence


def test_far_factor_moves_the_unit_verdicts(analysis: Analysis) -> None:
    loose = Analysis(analysis.runs, load_settings(overrides=["far_factor=1.1"]))
    got = units(loose)
    assert got["positions"][1] == "supported strongly" and got["training FLOPs"][1] == "supported strongly"
    assert got["total FLOPs (train + inference + engine)"][1] == "supported strongly"  # 1.12 >= 1.1
    assert claim_sample_efficiency(loose).verdict == "inconclusive"  # forward passes still span 1


def test_missing_units_are_not_recorded_not_dropped(old: Analysis) -> None:
    got = units(old)
    assert got["positions"] == ("not recorded (rlvr: samples.positions absent from its records)", "no evidence")
    forward = got["forward passes"]
    assert forward == ("not recorded (mcts: samples.forward_passes absent from its records; rlvr: "
                       "samples.forward_passes absent from its records)", "no evidence")
    total = got["total FLOPs (train + inference + engine)"]
    assert total[1] == "no evidence" and "compute.engine_flops absent" in total[0]
    assert got["training FLOPs"] == ("20× [2, ∞]", "supported")  # train FLOPs were recorded before issue 14
    claim = claim_sample_efficiency(old)
    assert claim.verdict == "no evidence" and "forward passes: not recorded (mcts: " in claim.evidence
    assert "outside knowledge used while learning: mcts: not recorded; rlvr: not recorded" in claim.evidence
    rows = {r[0]: r for r in claim3_table(old).rows}
    assert rows["forward passes"][4].startswith("not recorded") and rows["forward passes"][5] == "no evidence"
    assert rows["claim 3"][5] == "no evidence (the weakest deciding unit)"


def test_old_positions_at_evaluation_0_are_at_0(old: Analysis) -> None:
    """Old records: `samples: {}` at evaluation 0 and 80 positions a game; rlvr's positions never recorded."""
    (scale,) = old.scales.values()
    threshold = next(t for t in old.thresholds(scale) if t.rung == "r2")
    mcts, _ = old.unit_reach("mcts", POSITIONS, threshold, scale)
    assert mcts is not None and (mcts.point, mcts.early, mcts.late) == (8000, 8000, 80000)
    points = config_points(next(g for g in old.configs.values() if g[0].learner == "mcts"), "samples.positions")
    assert [p.x for p in points] == [0, 800, 8000, 80000]
    rlvr, why = old.unit_reach("rlvr", POSITIONS, threshold, scale)
    assert rlvr is None and why == "rlvr: samples.positions absent from its records"


def test_a_counter_kept_at_0_is_not_recorded(tmp_path: Path) -> None:
    """A learner that writes samples.forward_passes but never counts it (0 after learning) records nothing."""
    tree = make_tree(tmp_path / "t")
    for run in sorted(tree.glob("*_mcts_seed*")):
        lines = (run / "metrics.jsonl").read_text().splitlines()
        (run / "metrics.jsonl").write_text("".join(
            line.replace('"forward_passes": ', '"forward_passes": 0, "was": ') + "\n" for line in lines))
    analysis = Analysis(load_runs([tree]), load_settings())
    forward = units(analysis)["forward passes"]
    assert forward[1] == "no evidence"
    assert "samples.forward_passes is 0 after learning: the learner does not count it" in forward[0]


def test_engine_use_without_engine_flops_is_not_recorded(tmp_path: Path) -> None:
    """rlvr called engine verifiers but recorded no engine FLOPs: its total FLOPs are not known."""
    root = tmp_path / "t"
    recs = [record(i, e, 100, {"train_flops": r * 1e8, "infer_flops": 0.0, "engine_flops": 0.0,
                                "verifier_calls": r}, {"positions": r * 5, "forward_passes": r * 3, "rollouts": r},
                   "rlvr", 0, {"outside_knowledge": []}) for i, (r, e) in enumerate(zip([0, 100], [-600, -100]))]
    write_run(root / "rlvr", recs, config("rlvr", 0))
    (run,) = load_runs([root])
    assert not_recorded(run, TOTAL_FLOPS) == "100 engine verifier calls but compute.engine_flops is 0: engine " \
                                             "work not counted"


def test_claim_without_rlvr(analysis: Analysis) -> None:
    only = Analysis([r for r in analysis.runs if r.learner != "rlvr"], analysis.settings)
    assert claim_sample_efficiency(only).verdict == "no evidence"
    assert claim3_table(only).rows == []

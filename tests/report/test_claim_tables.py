"""The tables beside the claims, the cost model, and the claims on the committed reference runs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.config import CONF_DIR
from bench.report.claims import Analysis, claims_table, difference_table, final_table
from bench.report.costs import ReportSettings, load_settings
from bench.report.loading import load_runs
from bench.report.scales import OLD_RECONSTRUCTED
from bench.report.series import Curve, Point, frontier
from tests.report.synthetic import make_tree

OLD_REFERENCE = Path(__file__).resolve().parent / "data" / "reference_2026_11_30"
"""The reference study of 2026-11-30 (old rules, old ladder): each run's config.yaml and metrics.jsonl as committed
then (results/reference/runs at commit 902c4cc), kept to test the report on records in the old format."""


def test_final_table_pools_the_seeds(tmp_path: Path) -> None:
    analysis = Analysis(load_runs([make_tree(tmp_path)]), load_settings())
    row = next(r for r in final_table(analysis).rows if r[1] == "mcts eval_simulations=64")
    assert row[2] == "0, 1" and row[3] == "synthetic"
    assert row[4] == "75 [4, 146]"  # mean of 100 and 50; SE sqrt(2) * 51.0 / 2 = 36.1, zero ladder covariance
    assert row[6] == "50 … 100"


def test_cost_model_conversions() -> None:
    s = ReportSettings()
    assert s.tokens_per_task == 320_000
    assert s.task_dollars(1) == pytest.approx(3.2)
    assert s.gw_year_accelerator_hour == pytest.approx(12e9 / (1e9 / 1400) / 8766)
    assert s.flop_dollars(1e15 * 0.4 * 3600) == pytest.approx(2.0)  # one accelerator-hour
    assert math.isclose(load_settings().dollars_per_million_tokens, 10.0)
    assert load_settings().equivalence_margin == 100 and load_settings().thresholds == []


def test_frontier_is_the_upper_envelope() -> None:
    def pts(xs: list[float], elos: list[float]) -> list[Point]:
        return [Point(x=x, elo=e, low=e - 100, high=e + 100, eval_index=i) for i, (x, e) in enumerate(zip(xs, elos))]

    small = Curve("small", "mcts", pts([1, 10, 100], [-500, -300, -350]), [], [])
    large = Curve("large", "mcts", pts([5, 50, 200], [-400, -100, -200]), [], [])
    assert frontier([small, large]) == [(1, -500), (5, -400), (10, -300), (50, -100), (200, -100)]


def test_reference_runs_old_format() -> None:
    """The old reference (old records, old calibration file): ratings reconstructed, the calibration's
    covariance rebuilt from its pairs, icl (80-ply cap) kept apart from the 300-ply learners, and every claim
    that compares states its smallest detectable difference."""
    runs = load_runs([OLD_REFERENCE], CONF_DIR)
    # The records name default.calibration.json, since recalibrated; the file whose ratings match is the old one.
    assert {run.calibration_path.name for run in runs} == {"adjudicated.calibration.json"}
    analysis = Analysis(runs, load_settings())
    assert len(analysis.scales) == 2 and all("rebuilt" in s.covariance_source for s in analysis.scales.values())
    claims = {int(row[0]): row for row in claims_table(analysis).rows}
    assert "smallest detectable difference" in claims[1][3] and "smallest detectable difference" in claims[3][3]
    assert "(b) no evidence: no rlvr_llm runs" in claims[1][3]
    assert all(row[2] != "suggested, not established" for row in claims.values())
    rows = {r[0]: r for r in difference_table(analysis).rows}
    assert "ladder error cancelled" in rows["mcts vs rlvr"][5] and OLD_RECONSTRUCTED in rows["mcts vs rlvr"][5]
    assert "different scales" in rows["rlvr vs icl"][5]


def test_outside_knowledge_beside_each_learner(tmp_path: Path) -> None:
    """learner_info.outside_knowledge in the learners table and the final table; 'not recorded' for records
    without it (the synthetic icl runs, like every record before issue 14)."""
    from bench.report.claims import learners_table

    analysis = Analysis(load_runs([make_tree(tmp_path)]), load_settings())
    rows = {r[1]: r for r in learners_table(analysis).rows}
    assert rows["mcts eval_simulations=64"][3] == "material adjudication"
    assert rows["rlvr"][3] == "engine-judged rewards"
    assert rows["icl memory=context"][3] == "not recorded"
    assert rows["rlvr"][4:] == ["recorded"] * 4
    assert rows["icl memory=context"][4] == "not recorded: samples.positions absent from its records"
    assert rows["random"][4] == "- (does not learn)"
    finals = {r[1]: r for r in final_table(analysis).rows}
    assert finals["mcts eval_simulations=64"][-1] == "material adjudication"
    assert finals["icl memory=lora"][-1] == "not recorded"
    old = Analysis(load_runs([make_tree(tmp_path / "old", issue14=False)]), load_settings())
    assert {r[3] for r in learners_table(old).rows} == {"not recorded"}

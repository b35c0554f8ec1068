"""Seed claim 2 measured (issue 19) on synthetic rlvr_llm runs: chess families against other families, by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report.claims import Analysis, claim_rlvr_cost
from bench.report.claims.claim2_measured import claim2_table, families
from bench.report.costs import load_settings
from bench.report.loading import load_runs
from tests.report.synthetic import record, write_run


def family_run(root: Path, name: str, seed: int, curve: list[tuple[float, float]], flops_per_rollout: float) -> Path:
    """An rlvr_llm run: held-out success `curve` as (rollouts, success); tokens 10 and FLOPs as given per rollout."""
    family = {"name": name, "difficulty": [3]} if name != "chess" else {"name": "chess"}
    config = {"learner": {"name": "rlvr_llm", "family": family, "heldout": {"path": "conversion_m2.epd"}},
              "seed": seed}
    half = flops_per_rollout / 2
    records = [record(i, -400.0, 50.0, {"train_flops": r * half, "infer_flops": r * half},
                      {"rollouts": r, "tokens": 10 * r}, "rlvr_llm", seed, {"heldout": {"solve_rate": s}})
               for i, (r, s) in enumerate(curve)]
    return write_run(root / f"{name}-{seed}", records, config)


@pytest.fixture
def runs(tmp_path: Path) -> list:
    # chess: from 0.0, half the gap (0.5) at 1000 / 2000 rollouts (seeds 0 / 1); addition: at 10 / 20 rollouts
    for seed, scale in ((0, 1.0), (1, 2.0)):
        family_run(tmp_path, "chess", seed, [(0, 0.0), (500 * scale, 0.25), (1000 * scale, 0.5), (4000, 0.9)], 1e9)
        family_run(tmp_path, "addition", seed, [(0, 0.2), (10 * scale, 0.6), (40, 0.95)], 1e8)
    return load_runs([tmp_path])


def test_families_and_their_compute_to_half_the_gap(runs: list) -> None:
    found = {f.name: f for f in families(Analysis(runs, load_settings()))}
    assert set(found) == {"chess/conversion_m2", "addition d3"}
    chess, addition = found["chess/conversion_m2"], found["addition d3"]
    assert [c.compute for c in chess.crossings[("rollouts", 0.5)]] == [pytest.approx(1000), pytest.approx(2000)]
    assert [c.compute for c in addition.crossings[("rollouts", 0.5)]] == [pytest.approx(10), pytest.approx(20)]
    assert [c.compute for c in addition.crossings[("FLOPs", 0.5)]] == [pytest.approx(1e9), pytest.approx(2e9)]
    assert chess.start == 0.0 and addition.final == pytest.approx(0.95)
    table = claim2_table(Analysis(runs, load_settings()))
    assert [row[0] for row in table.rows] == ["addition d3", "chess/conversion_m2"]
    assert table.rows[1][3].startswith("1,414 [")  # geometric mean of 1000 and 2000 rollouts, with its interval


def test_the_measured_ratio_decides_and_external_figures_are_labelled(runs: list) -> None:
    settings = load_settings(overrides=["other_rlvr_tasks=[{name: toy, tasks: 100, source: s}]"])
    claim = claim_rlvr_cost(Analysis(runs, settings))
    # FLOPs: chess 1000 x 1e9 vs addition 10 x 1e8 per seed pair: ratio 1000 exactly, the same spread both sides
    assert claim.verdict == "supported"
    assert "chess/conversion_m2 / addition d3: 1e+03 [" in claim.evidence
    assert "in FLOPs (100 [" in claim.evidence  # rollouts: 1000 / 10
    assert "External (typed in, not measured here" in claim.evidence


def test_without_family_runs_the_claim_is_the_external_one(tmp_path: Path) -> None:
    family_run(tmp_path, "addition", 0, [(0, 0.2), (10, 0.6)], 1e8)
    claim = claim_rlvr_cost(Analysis(load_runs([tmp_path]), load_settings()))
    assert "Measured here" not in claim.evidence


def test_the_heldout_plot_draws_every_family_run_and_only_them(runs: list, tmp_path: Path) -> None:
    from bench.report.plots import plot_heldout

    path = plot_heldout(runs, tmp_path / "heldout.png")
    assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    others = [run for run in runs if run.learner != "rlvr_llm"]
    assert plot_heldout(others, tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()

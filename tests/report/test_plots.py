"""The plots' panels and axes, read off the matplotlib Figure before it is saved (no pixel comparison)."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bench.report import plots
from bench.report.costs import load_settings
from bench.report.loading import Run, load_runs
from tests.report.synthetic import make_tree


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Run]:
    return load_runs([make_tree(tmp_path_factory.mktemp("syn"))])


@pytest.fixture(scope="module")
def old_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Run]:
    return load_runs([make_tree(tmp_path_factory.mktemp("old"), issue14=False)])


def drawn(monkeypatch: pytest.MonkeyPatch, draw: object, *args: object) -> list[Axes]:
    """The visible axes of the figure `draw(*args)` saves."""
    figures: list[Figure] = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or path)
    assert draw(*args) is not None  # type: ignore[operator]
    (fig,) = figures
    return [ax for ax in fig.axes if ax.get_visible()]


def texts(ax: Axes) -> str:
    return " ".join(t.get_text() for t in ax.texts)


def xs_of(ax: Axes, learner: str) -> list[float]:
    """x of every point of `learner`'s mean lines (their labels start with the learner's name)."""
    return [float(x) for line in ax.get_lines() if str(line.get_label()).startswith(learner)
            for x in line.get_xdata()]


def test_samples_plot_has_shared_positions_and_forward_passes_panels(runs: list[Run], tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    axes = drawn(monkeypatch, plots.plot_elo_vs_samples, runs, tmp_path / "s.png", load_settings())
    titles = [ax.get_title() for ax in axes]
    assert titles[:2] == ["Elo vs positions, every learner alike", "Elo vs forward passes, every learner alike"]
    assert titles[2:] == ["Elo vs games", "Elo vs rollouts", "Elo vs tasks", "Elo vs tokens"]
    positions = axes[0]
    assert xs_of(positions, "mcts") and xs_of(positions, "rlvr")  # both learners on one positions axis
    assert "not recorded: icl memory=context, icl memory=lora" in texts(positions)  # icl counts no positions here
    # evaluation 0 (before learning) sits at 0 on a log axis that reaches 0
    assert positions.get_xscale() == "symlog" and min(xs_of(positions, "mcts")) == 0
    assert positions.get_xlim()[0] == 0 and "linear from 0 to the first value" in positions.get_xlabel()
    assert plots.sample_panels(runs) == ["samples.positions", "samples.forward_passes", "samples.games",
                                         "samples.rollouts", "samples.tasks", "samples.tokens"]


def test_old_records_keep_evaluation_0_and_name_what_is_not_recorded(old_runs: list[Run], tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Records before issue 14: `samples: {}` at evaluation 0, no rlvr positions, no forward passes at all."""
    axes = drawn(monkeypatch, plots.plot_elo_vs_samples, old_runs, tmp_path / "s.png", load_settings())
    positions = axes[0]
    assert positions.get_title() == "Elo vs positions, every learner alike"
    assert not xs_of(positions, "rlvr") and "not recorded: " in texts(positions) and "rlvr" in texts(positions)
    assert min(xs_of(positions, "mcts")) == 0  # evaluation 0's `{}` is 0 spent, not dropped
    assert "Elo vs forward passes, every learner alike" not in [ax.get_title() for ax in axes]


def test_flops_plot_with_and_without_engine(runs: list[Run], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (plain,) = drawn(monkeypatch, plots.plot_elo_vs_flops, runs, tmp_path / "f.png", load_settings())
    assert plain.get_xlabel().startswith("FLOPs while learning (train + inference)")
    assert xs_of(plain, "icl")  # icl has inference FLOPs while learning
    # rlvr at its last evaluation: 10,000 rollouts x (1e8 train + 1e7 inference) without the engine ...
    assert max(xs_of(plain, "rlvr")) == pytest.approx(10_000 * 1.1e8)
    with_engine = load_settings(overrides=["flops_include_engine=true"])
    monkeypatch.undo()
    (total,) = drawn(monkeypatch, plots.plot_elo_vs_flops, runs, tmp_path / "f.png", with_engine)
    assert total.get_xlabel().startswith("total FLOPs (train + inference + engine)")
    assert max(xs_of(total, "rlvr")) == pytest.approx(10_000 * 1.12e8)  # ... and with 2e6 engine FLOPs a rollout
    assert not xs_of(total, "icl") and "not recorded: icl memory=context, icl memory=lora" in texts(total)
    assert "flops_include_engine=true" in plots.captions(with_engine)["elo_vs_flops.png"]
    assert "--set flops_include_engine=true adds it" in plots.captions(load_settings())["elo_vs_flops.png"]


def test_engine_flops_no_run_records_is_a_panel_that_says_so(old_runs: list[Run], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    with_engine = load_settings(overrides=["flops_include_engine=true"])
    (ax,) = drawn(monkeypatch, plots.plot_elo_vs_flops, old_runs, tmp_path / "f.png", with_engine)
    assert not xs_of(ax, "mcts") and not xs_of(ax, "rlvr")
    assert "not recorded: icl memory=context, icl memory=lora, mcts eval_simulations=16, mcts " in texts(ax)


def test_conversion_results_get_their_own_test_time_panel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`benchmarks/conversion.py --save` files in a run's conversion/ folder: a third panel with the trained and the
    untrained win rates at each simulation count, y the win rate, x the simulations; a garbled file is skipped."""
    import json

    root = make_tree(tmp_path / "syn")
    run_dir = next(p for p in root.rglob("*_mcts_seed0") if p.is_dir())
    (run_dir / "conversion").mkdir()
    for sims, trained in ((16, 0.6), (64, 0.8)):
        agents = {a: {"games": 10, "win_rate": w, "win_rate_ci": [w - 0.2, min(1.0, w + 0.1)]}
                  for a, w in (("trained", trained), ("untrained", 0.2))}
        (run_dir / "conversion" / f"sims{sims}.json").write_text(json.dumps({"eval_simulations": sims,
                                                                               "agents": agents}))
    (run_dir / "conversion" / "broken.json").write_text("{not json")
    runs = load_runs([root])
    assert len(plots.conversion_results(runs)) == 2
    axes = drawn(monkeypatch, plots.plot_train_vs_test, runs, tmp_path / "t.png")
    assert len(axes) == 3 and axes[2].get_title() == "vs the random mover, played to mate"
    lines = {str(c.get_label()): c.lines[0] for c in axes[2].containers}  # errorbar: label on the container
    trained = next(line for label, line in lines.items() if label.endswith("trained (10 games)")
                   and "untrained" not in label)
    untrained = next(line for label, line in lines.items() if "untrained" in label)
    assert list(trained.get_xdata()) == [16, 64] and list(trained.get_ydata()) == [0.6, 0.8]
    assert list(untrained.get_ydata()) == [0.2, 0.2]

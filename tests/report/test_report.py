"""The report builds from the synthetic tree: files, valid PNGs, a self-contained HTML with every run string
escaped, the Markdown twin, and the command line's exit codes."""

from __future__ import annotations

import html
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.report import build_report
from bench.report.build import Report
from bench.report.loading import load_runs
from bench.report.plots import PLOTS
from tests.report.synthetic import HOSTILE, config, make_tree, record, write_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    width, height = struct.unpack(">II", data[16:24])  # IHDR follows the signature
    assert data[12:16] == b"IHDR" and width > 200 and height > 200
    import matplotlib.image

    assert matplotlib.image.imread(path).shape[:2] == (height, width)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    root = tmp_path_factory.mktemp("tree")
    sweep = make_tree(root, hostile=True)
    # a run whose directory name is itself hostile
    evil = root / "javascript:alert(1)" / '"><svg onload=alert(2)>'
    write_run(evil, [record(0, -590, 100, {"wall_s": 1}, {"games": 1}, "random", 7)], config("random", 7))
    return build_report([sweep, root / "javascript:alert(1)"], root / "out")


def test_writes_every_file_and_plot(report: Report) -> None:
    assert report.index.is_file() and report.markdown.is_file()
    assert set(report.plots) == set(PLOTS) - {"heldout.png"}  # claim 2's family runs: test_claim2_measured.py
    for png in report.plots.values():
        assert png.parent == report.out
        assert_png(png)
    assert len(report.runs) == 10


def test_html_is_self_contained(report: Report) -> None:
    text = report.index.read_text()
    assert text.count('src="data:image/png;base64,') == len(report.plots)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)
    assert "<script" not in text.lower() and "<link" not in text.lower()


def test_run_text_is_escaped(report: Report) -> None:
    text = report.index.read_text()
    assert HOSTILE not in text
    assert "<img src=x" not in text and "<svg" not in text
    assert html.escape(HOSTILE) in text or html.escape(HOSTILE, quote=False) in text
    hrefs = re.findall(r'href="([^"]*)"', text)
    assert hrefs and all(not h.lower().startswith(("javascript", "data:", "http")) for h in hrefs)
    assert any("javascript%3Aalert%281%29" in h for h in hrefs)
    md = report.markdown.read_text()
    assert "<script>" not in md and "<img src=x" not in md


def test_markdown_has_the_same_tables(report: Report) -> None:
    md = report.markdown.read_text()
    for table in report.tables:
        assert table.title in md
    # judged in every unit: forward passes leave it inconclusive (test_claim3_sample_efficiency.py)
    assert "| 3 | MCTS self-play is far more sample-efficient than RLVR. | inconclusive |" in md
    assert "### Seed claim 3 unit by unit" in md and "| forward passes | yes |" in md
    for name in report.plots:
        assert f"![{name}]({name})" in md


def test_provenance_lists_runs_with_pgn_links(report: Report) -> None:
    provenance = report.tables[-1]
    assert len(provenance.rows) == len(report.runs)
    text = report.index.read_text()
    assert text.count("games.pgn (2 games)") == len(report.runs)
    assert "resolved config" in text


def test_sweep_layout_groups_seeds(tmp_path: Path) -> None:
    runs = load_runs([make_tree(tmp_path)])
    mcts64 = [r for r in runs if r.label == "mcts eval_simulations=64"]
    assert sorted(r.seed for r in mcts64) == [0, 1] and len({r.config_key for r in mcts64}) == 1


def test_torn_metrics_tail_and_empty_runs(tmp_path: Path) -> None:
    path = write_run(tmp_path / "a", [record(0, -600, 100, {}, {}, "random", 0)], config("random", 0))
    with open(path / "metrics.jsonl", "a") as handle:
        handle.write('{"eval_index": 1, "elo": ')  # a run killed mid-write
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "metrics.jsonl").write_text("")
    runs = load_runs([tmp_path])
    assert len(runs) == 1 and len(runs[0].records) == 1
    with pytest.raises(BenchError, match="no run directory"):
        build_report([tmp_path / "empty"], tmp_path / "out")


def test_malformed_records_are_skipped_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = [record(i, -600 + 50 * i, 100, {"wall_s": i}, {"games": i}, "random", 0) for i in range(2)]
    bad = [{**good[0], "eval_index": None}, {**good[0], "eval_index": 2, "elo": float("nan")},
           {**good[0], "eval_index": "3"}, {**good[0], "eval_index": 4, "elo_ci": [1.0]},
           {**good[0], "eval_index": 5, "seed": "x"}, {**good[0], "eval_index": 6, "compute": {"wall_s": "slow"}},
           {**good[0], "eval_index": 7, "samples": [1]}, [1, 2]]
    path = write_run(tmp_path / "in" / "a", [good[1], *bad, good[0]], config("random", 0))
    with caplog.at_level("WARNING", logger="bench.report.loading"):
        runs = load_runs([tmp_path / "in"])
    assert [r["eval_index"] for r in runs[0].records] == [0, 1] and runs[0].skipped == len(bad)
    assert f"{path / 'metrics.jsonl'}: {len(bad)} of {len(bad) + 2} records skipped" in caplog.text
    report = build_report([tmp_path / "in"], tmp_path / "out")
    assert f"{len(bad)} malformed records were skipped" in report.markdown.read_text()


def test_a_failed_build_leaves_out_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sweep = make_tree(tmp_path / "tree")
    out = tmp_path / "deep" / "out"
    with pytest.raises(BenchError, match="no run directory"):
        build_report([tmp_path / "nothing"], out)
    assert not out.exists()
    first = build_report([sweep], out)
    (out / "notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args: object) -> None:
        raise RuntimeError("a bug while drawing")

    monkeypatch.setitem(PLOTS, next(iter(PLOTS)), broken)
    with pytest.raises(RuntimeError, match="a bug while drawing"):
        build_report([sweep], out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the last report, untouched
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]  # no staging folder left
    monkeypatch.undo()
    write_run(sweep / "late", [record(0, -600, 100, {}, {}, "random", 5)], config("random", 5))
    again = build_report([sweep], out)
    assert len(again.runs) == len(first.runs) + 1 and (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == sorted(before)


def test_cli(tmp_path: Path) -> None:
    sweep = make_tree(tmp_path)
    out = tmp_path / "rep"
    done = subprocess.run([sys.executable, "-m", "bench.report", str(sweep), "--out", str(out),
                           "--set", "thresholds=[-300,0]"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert str(out / "index.html") in done.stdout
    assert "-300 (fixed)" in (out / "report.md").read_text()
    missing = subprocess.run([sys.executable, "-m", "bench.report", str(tmp_path / "nothing")], capture_output=True,
                             text=True, timeout=60)
    assert missing.returncode == 2 and missing.stderr.startswith("bench: error: no run directory")


def test_report_never_imports_a_learner() -> None:
    code = ("import sys, bench.report.build, bench.report.__main__, bench.report.tracking; "
            "print(sorted(m for m in sys.modules if m.startswith('bench.learners')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"

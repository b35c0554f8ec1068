"""Installable anywhere: the wheel builds with and without a C compiler, carries conf/, and its console scripts
run bench from any directory (the python-chess move generator standing in for the C one)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ["learner=random", "budget.amount=4", "budget.evals=1", "ladder=quick", "eval=quick", "eval.games=2",
       "progress=false"]


def source_tree(dest: Path) -> Path:
    """The repository's files (tracked and new, not ignored ones) copied to `dest`, so builds leave no trace."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def build_wheel(src: Path, out: Path, compiler: bool) -> tuple[Path, str]:
    env = {**os.environ}
    if not compiler:
        env["CC"] = "false"  # a compiler that always fails: what a machine without gcc looks like to setuptools
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
                             "-w", str(out), str(src)], capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    wheels = sorted(out.glob("bench-*.whl"))
    assert len(wheels) == 1
    return wheels[0], result.stdout + result.stderr


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, tuple[Path, str]]:
    return {compiler: build_wheel(source_tree(tmp_path_factory.mktemp(f"src-{compiler}")),  # each its own build/
                                  tmp_path_factory.mktemp(f"wheel-{compiler}"), compiler)
            for compiler in (True, False)}


def test_the_c_extension_is_built_with_a_compiler_and_skipped_with_one_warning_without(wheels) -> None:
    with_cc, log_cc = wheels[True]
    without_cc, log = wheels[False]
    built = lambda wheel: [n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("bench/_movegen")]  # noqa
    assert len(built(with_cc)) == 1 and built(with_cc)[0].endswith(".so") and built(without_cc) == []
    assert log.count("WARNING: bench._movegen (the C move generator) was not built") == 1
    assert "python-chess generates the legal moves" in log and "was not built" not in log_cc


def test_the_wheel_carries_conf_and_the_console_scripts(wheels) -> None:
    wheel, _ = wheels[False]
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"bench/conf/config.yaml", "bench/conf/ladder/quick.yaml", "bench/conf/ladder/quick.calibration.json",
            "bench/conf/learner/mcts.yaml", "bench/conf/openings/default.txt", "bench/conf/prompts/default.yaml",
            "bench/conf/hydra/launcher/parallel.yaml", "bench/conf/tasks/mate_in_one.epd"} <= names
    tracked = {p.relative_to(ROOT / "conf").as_posix() for p in (ROOT / "conf").rglob("*")
               if p.is_file() and not p.name.endswith(".tmp") and ".tmp-" not in p.name}
    assert {f"bench/conf/{name}" for name in tracked} <= names  # every file of conf/, calibrations included
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for script in ("bench = bench.__main__:cli", "bench-uci = bench.uci:main", "bench-report =",
                   "bench-calibrate =", "bench-export ="):
        assert script in text


def _venv_sharing_dependencies(folder: Path) -> Path:
    """A new venv whose site-packages reaches this one's third-party packages through a .pth line, but not its
    editable bench (a path listed in a .pth file does not have its own .pth files run)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=300)
    purelib = Path(sysconfig.get_paths()["purelib"])
    site = next((folder / "lib").glob("python3*/site-packages"))
    (site / "deps.pth").write_text(str(purelib) + "\n")
    return folder / "bin"


def test_a_wheel_built_without_a_compiler_runs_bench_from_any_directory(wheels, tmp_path: Path) -> None:
    wheel, _ = wheels[False]
    bin_dir = _venv_sharing_dependencies(tmp_path / "venv")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(bin_dir / "python"), "install", "--no-deps",
                    "--no-index", "--quiet", str(wheel)], check=True, timeout=600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("BENCH_CONF_DIR", "PYTHONPATH")}
    where = subprocess.run([str(bin_dir / "python"), "-c", "import bench.config as c; print(c.CONF_DIR)"],
                           capture_output=True, text=True, cwd=elsewhere, env=env, timeout=300)
    assert Path(where.stdout.strip()).parent.parent.name == "site-packages"  # the packaged conf, not the repo's
    result = subprocess.run([str(bin_dir / "bench"), *RUN], capture_output=True, text=True, cwd=elsewhere, env=env,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Elo " in result.stdout
    assert "legal moves come from python-chess" in result.stderr  # the fallback, said once
    runs = list((elsewhere / "results" / "random").iterdir())
    assert len(runs) == 1 and (runs[0] / "games.pgn").stat().st_size > 0
    assert "budget.amount=4" in (runs[0] / "overrides.yaml").read_text()


@pytest.mark.slow
def test_a_fresh_venv_with_the_wheel_and_its_dependencies_runs_bench(wheels, tmp_path: Path) -> None:
    """The whole install: a new venv, the wheel (no compiler) and its dependencies at the tested versions."""
    wheel, _ = wheels[False]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "-c", str(ROOT / "constraints.txt"),
                          str(wheel)], capture_output=True, text=True, timeout=1800)
    assert pip.returncode == 0, pip.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("BENCH_CONF_DIR", "PYTHONPATH")}
    result = subprocess.run([str(venv / "bin" / "bench"), *RUN], capture_output=True, text=True, cwd=elsewhere,
                            env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Elo " in result.stdout and "legal moves come from python-chess" in result.stderr
    uci = subprocess.run([str(venv / "bin" / "bench-uci"), "rung=random", "ladder=quick"], input="uci\nquit\n",
                         capture_output=True, text=True, cwd=elsewhere, env=env, timeout=300)
    assert "uciok" in uci.stdout
    table = subprocess.run([str(venv / "bin" / "bench-report"), "results", "--csv", "m.csv"], capture_output=True,
                           text=True, cwd=elsewhere, env=env, timeout=600)
    assert (elsewhere / "m.csv").read_text().count("\n") == 3, table.stderr[-2000:]  # header + 2 evaluations

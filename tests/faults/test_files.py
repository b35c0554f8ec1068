"""A full disk while writing, and corrupt or truncated checkpoints and metrics: clear errors, nothing lost.

Disk full: the write of a metrics record, a game or a checkpoint stops half way with ENOSPC (injected into
bench.results' own writes of a real CLI run; and, where a tmpfs can be mounted, a real filesystem filling up).
The run stops with one line naming the file; the previous checkpoint and every finished record are intact, and
`resume=true` (with space again) ends with the uninterrupted run's records.

Corruption: a checkpoint with a flipped byte or cut short, a metrics.jsonl or games.pgn cut below (or changed
within) what the checkpoint covers: `resume=true` refuses with one line naming the path, exit code 2, and
changes no byte of any file.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from bench.errors import BenchError
from bench.results import CHECKPOINT, GAMES, METRICS, RunDir, load_checkpoint
from tests.faults.conftest import Ledger, bench_cli
from tests.faults.test_kill_resume import Reference, game_key, run_args, strip_timing

pytestmark = pytest.mark.stockfish


def one_line_error(stderr: str) -> str:
    """The CLI's error: exactly one `bench: error:` line and no traceback."""
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("bench: ")]
    assert len(errors) == 1, stderr[-3000:]
    return errors[0]


def fingerprint(run_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run_dir.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("files")


@pytest.fixture(scope="module")
def reference(root: Path, det_conf: Path) -> Reference:
    return Reference.get("random", root, det_conf, None)


@pytest.mark.parametrize(("point", "count", "names"), [
    ("checkpoint", 2, "checkpoint.pt"),
    pytest.param("metrics", 2, "metrics.jsonl", marks=pytest.mark.slow),
    pytest.param("game", 3, "games.pgn", marks=pytest.mark.slow)])
def test_disk_full_is_one_clear_error_and_resume_completes(point: str, count: int, names: str, root: Path,
                                                           det_conf: Path, reference: Reference,
                                                           ledger: Ledger) -> None:
    run_dir = root / f"enospc-{point}"
    env = {"BENCH_CONF_DIR": str(det_conf)}
    with ledger.fault(f"disk full writing {names}") as outcome:
        failed = bench_cli(run_args("random", run_dir, None), root, fault=f"enospc:{point}:{count}", env=env)
        assert failed.returncode == 2
        line = one_line_error(failed.stderr)
        assert names in line and "No space left on device" in line and "intact" in line, line
        state = load_checkpoint(run_dir / CHECKPOINT)  # the previous checkpoint is whole
        kept = RunDir(run_dir).read_metrics()
        assert len(kept) >= state["evals_done"] >= 1
        assert kept[: state["evals_done"]] == reference.metrics[: state["evals_done"]] or \
            strip_timing(kept[: state["evals_done"]]) == strip_timing(reference.metrics[: state["evals_done"]])
        assert not list(run_dir.glob("*.tmp"))
        resumed = bench_cli([*run_args("random", run_dir, None), "resume=true"], root, env=env)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        after = RunDir(run_dir).read_metrics()
        games = RunDir(run_dir).read_games()
        keys = [game_key(g) for g in games]
        outcome.lost = abs(len(after) - len(reference.metrics)) + abs(len(set(keys)) - len(reference.games)) + (
            len(keys) - len(set(keys)))
        assert strip_timing(after) == strip_timing(reference.metrics)
        assert sorted(keys) == sorted(game_key(g) for g in reference.games)


def _mounted_tmpfs(path: Path, size_kb: int) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)],
                          capture_output=True, text=True)
    return done.returncode == 0


def test_a_real_filesystem_filling_up_mid_run(make_cfg, tmp_path: Path, ledger: Ledger,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1 MiB tmpfs filled to the last byte right after the first checkpoint: the kernel's ENOSPC, not ours."""
    from bench.run import run

    mount = tmp_path / "tmpfs"
    if not _mounted_tmpfs(mount, 1024):
        pytest.skip("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN); the injected ENOSPC tests cover this")
    try:
        run_dir = mount / "run"
        filler = mount / "filler"
        original = RunDir.save_checkpoint

        def save_then_fill(self: RunDir, state: dict) -> None:
            original(self, state)
            if not filler.exists():
                try:
                    with open(filler, "wb") as handle:  # fill every free block
                        while True:
                            handle.write(b"\0" * 4096)
                            handle.flush()
                except OSError:
                    pass

        monkeypatch.setattr(RunDir, "save_checkpoint", save_then_fill)
        cfg = make_cfg("learner=random", "budget.unit=games", "budget.amount=2", "budget.evals=1",
                       "eval.games=2", "eval.max_plies=40", "eval.allow_uncalibrated_rules=true")
        with ledger.fault("disk full (real tmpfs)") as outcome:
            with pytest.raises(BenchError, match="No space left on device") as info:
                run(cfg, run_dir=run_dir)
            assert str(run_dir) in str(info.value) and "\n" not in str(info.value)
            state = load_checkpoint(run_dir / CHECKPOINT)
            first = RunDir(run_dir).read_metrics()  # the record after the checkpoint may have fit in a free page
            assert state["evals_done"] == 1 and len(first) >= 1
            filler.unlink()
            monkeypatch.undo()
            run(make_cfg("learner=random", "budget.unit=games", "budget.amount=2", "budget.evals=1", "eval.games=2",
                         "eval.max_plies=40", "eval.allow_uncalibrated_rules=true", "resume=true"), run_dir=run_dir)
            records = RunDir(run_dir).read_metrics()
            outcome.lost = abs(len(records) - 2) + abs(len(RunDir(run_dir).read_games()) - 4)
            assert [r["eval_index"] for r in records] == [0, 1] and records[0] == first[0]
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _cut(fraction: float) -> Callable[[Path], None]:
    def cut(path: Path) -> None:
        path.write_bytes(path.read_bytes()[: int(path.stat().st_size * fraction)])

    return cut


def _garble_first_line(path: Path) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    lines[0] = lines[0].replace(b'"elo"', b'"el\xff"', 1)  # same length: a bit rot, not a cut
    path.write_bytes(b"".join(lines))


def _edit_first_record(path: Path) -> None:  # still valid JSON: only the checksum can tell
    lines = path.read_bytes().splitlines(keepends=True)
    lines[0] = lines[0].replace(b'"eval_index": 0', b'"eval_index": 7', 1)
    path.write_bytes(b"".join(lines))


CORRUPTIONS = {
    "checkpoint byte flipped": (CHECKPOINT, _flip_byte, "corrupt"),
    "checkpoint truncated": (CHECKPOINT, _cut(0.5), "corrupt"),
    "checkpoint cut to its header": (CHECKPOINT, _cut(0.0), "truncated"),
    "metrics.jsonl truncated": (METRICS, _cut(0.5), "records were lost"),
    "metrics.jsonl garbled line": (METRICS, _garble_first_line, "changed since the checkpoint"),
    "metrics.jsonl record edited": (METRICS, _edit_first_record, "changed since the checkpoint"),
    "games.pgn truncated": (GAMES, _cut(0.3), "records were lost"),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_files_are_detected_reported_with_the_path_and_never_touched(corruption: str, root: Path,
                                                                           reference: Reference, make_cfg,
                                                                           ledger: Ledger) -> None:
    from bench.run import run

    name, damage, words = CORRUPTIONS[corruption]
    run_dir = root / f"corrupt-{corruption.replace(' ', '-')}"
    shutil.copytree(reference.run_dir, run_dir)
    damage(run_dir / name)
    before = fingerprint(run_dir)
    with ledger.fault(f"corrupt: {corruption}") as outcome:
        outcome.by_error_message()
        with pytest.raises(BenchError) as refused:
            run(make_cfg("learner=random", "resume=true"), run_dir=run_dir)
        line = str(refused.value)
        assert str(run_dir / name) in line and words in line and "\n" not in line, line
        assert fingerprint(run_dir) == before  # not loaded, not truncated, not overwritten
        with pytest.raises(BenchError, match="resume=true"):
            run(make_cfg("learner=random"), run_dir=run_dir)
        assert fingerprint(run_dir) == before  # a new run refuses the folder too


def test_corrupt_checkpoint_through_the_cli_is_one_line_and_exit_code_2(root: Path, det_conf: Path,
                                                                         reference: Reference) -> None:
    run_dir = root / "corrupt-cli"
    shutil.copytree(reference.run_dir, run_dir)
    _flip_byte(run_dir / CHECKPOINT)
    before = fingerprint(run_dir)
    refused = bench_cli([*run_args("random", run_dir, None), "resume=true"], root, env={"BENCH_CONF_DIR": str(det_conf)})
    assert refused.returncode == 2
    assert one_line_error(refused.stderr) == (f"bench: error: checkpoint {run_dir / CHECKPOINT} is corrupt (length or "
                                              "checksum mismatch); it was not loaded")
    # the records are untouched; overrides.yaml (the log of invocations) only gains this attempt's entry
    after = fingerprint(run_dir)
    assert {k: v for k, v in after.items() if k != "overrides.yaml"} == {
        k: v for k, v in before.items() if k != "overrides.yaml"}
    assert "resume=true" in (run_dir / "overrides.yaml").read_text()

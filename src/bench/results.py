"""The run directory: resolved config, append-only `metrics.jsonl` and `games.pgn`, atomic checkpoints, resume.

Crash safety rests on three habits:
- every record and every game is one `write` followed by `fsync`, so a `kill -9` can tear at most the last one;
- a checkpoint stores the byte lengths of both files at the moment it was taken, and `resume` truncates them
  back to those lengths before continuing, so nothing after the checkpoint is kept twice and a torn tail is
  never read as data; it stores a SHA-256 of each file's first that-many bytes too, and `resume` refuses (naming
  the file, changing nothing) when a file is shorter than that or its checkpointed part changed, so records the
  checkpoint covers are never silently lost or replaced;
- checkpoints are written to a temporary file, fsynced and renamed over the old one, with a SHA-256 of the
  payload in the header: a corrupt checkpoint is detected and reported with its path, never loaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import threading
from pathlib import Path
from typing import Any

import chess.pgn

from bench.errors import BenchError

METRICS = "metrics.jsonl"
GAMES = "games.pgn"
CHECKPOINT = "checkpoint.pt"
CONFIG = "config.yaml"
CHECKPOINT_MAGIC = b"BENCHCK1"
_HEADER = struct.Struct(">8sQ32s")  # magic, payload length, sha256


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a torn mix."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BenchError(f"could not write {path}: {exc.strerror or exc}; the previous version is intact") from exc
    _fsync_dir(path.parent)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save `state` with a length+SHA-256 header, atomically."""
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    header = _HEADER.pack(CHECKPOINT_MAGIC, len(payload), hashlib.sha256(payload).digest())
    atomic_write_bytes(path, header + payload)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by `save_checkpoint`; a truncated or corrupt file is a BenchError naming it."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise BenchError(f"checkpoint {path} does not exist")
    data = path.read_bytes()
    if len(data) < _HEADER.size:
        raise BenchError(f"checkpoint {path} is truncated ({len(data)} bytes); it was not loaded")
    magic, length, digest = _HEADER.unpack_from(data)
    payload = data[_HEADER.size :]
    if magic != CHECKPOINT_MAGIC:
        raise BenchError(f"{path} is not a bench checkpoint (bad header); it was not loaded")
    if len(payload) != length or hashlib.sha256(payload).digest() != digest:
        raise BenchError(f"checkpoint {path} is corrupt (length or checksum mismatch); it was not loaded")
    return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)


def read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Complete records of a JSONL file and the byte length they span; a torn or garbled tail is not data."""
    records: list[dict[str, Any]] = []
    good = 0
    if not path.is_file():
        return records, 0
    with open(path, "rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            try:
                records.append(json.loads(line))
            except ValueError:
                break
            good += len(line)
    return records, good


class RunDir:
    """One run's files. Appends are serialised by a lock (match workers append games from threads)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.metrics_path = self.path / METRICS
        self.games_path = self.path / GAMES
        self.checkpoint_path = self.path / CHECKPOINT
        self.config_path = self.path / CONFIG
        self._lock = threading.Lock()

    @classmethod
    def create(cls, path: str | Path, config_yaml: str) -> "RunDir":
        run = cls(path)
        if run.metrics_path.exists() or run.checkpoint_path.exists() or run.games_path.exists():
            raise BenchError(f"{run.path} already holds a run; pass resume=true run_dir={run.path} to continue it")
        run.path.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(run.config_path, config_yaml.encode())
        return run

    @classmethod
    def open_for_resume(cls, path: str | Path) -> tuple["RunDir", dict[str, Any] | None]:
        """Open an existing run, cut both logs back to the last checkpoint, and return that checkpoint."""
        run = cls(path)
        if not run.path.is_dir():
            raise BenchError(f"resume=true but run_dir={run.path} does not exist")
        state = load_checkpoint(run.checkpoint_path) if run.checkpoint_path.exists() else None
        offsets = state["offsets"] if state else {METRICS: 0, GAMES: 0}
        if state:
            run.check_prefixes(offsets, state.get("digests"))
        run.truncate_to(offsets)
        return run, state

    def offsets(self) -> dict[str, int]:
        return {name: (self.path / name).stat().st_size if (self.path / name).exists() else 0
                for name in (METRICS, GAMES)}

    def digests(self, offsets: dict[str, int]) -> dict[str, str]:
        """SHA-256 of each file's first `offsets[name]` bytes: what a checkpoint vouches for."""
        out = {}
        for name, size in offsets.items():
            digest = hashlib.sha256()
            if size:
                with open(self.path / name, "rb") as handle:
                    digest.update(handle.read(size))
            out[name] = digest.hexdigest()
        return out

    def check_prefixes(self, offsets: dict[str, int], digests: dict[str, str] | None) -> None:
        """Refuse to resume when a file lost or changed bytes the checkpoint covers; nothing is modified."""
        sizes = self.offsets()
        for name, size in offsets.items():
            if sizes[name] < size:
                raise BenchError(f"{self.path / name} has {sizes[name]} bytes but the checkpoint covers {size}: "
                                 "records were lost; restore the file or start a new run (nothing was changed)")
        current = self.digests(offsets) if digests else {}
        for name, digest in (digests or {}).items():
            if current.get(name) != digest:
                raise BenchError(f"{self.path / name} changed since the checkpoint was written (checksum mismatch "
                                 f"in its first {offsets[name]} bytes); restore the file or start a new run "
                                 "(nothing was changed)")

    def truncate_to(self, offsets: dict[str, int]) -> None:
        for name, size in offsets.items():
            target = self.path / name
            if target.exists() and target.stat().st_size > size:
                with open(target, "r+b") as handle:
                    handle.truncate(size)
                    os.fsync(handle.fileno())

    def _append(self, path: Path, text: str) -> None:
        with self._lock:
            try:
                with open(path, "a", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError as exc:
                raise BenchError(f"could not append to {path}: {exc.strerror or exc}; earlier records are intact") from exc

    def append_metrics(self, record: dict[str, Any]) -> None:
        self._append(self.metrics_path, json.dumps(record, sort_keys=True) + "\n")

    def append_game(self, game: chess.pgn.Game) -> None:
        exporter = chess.pgn.StringExporter(headers=True, variations=False, comments=True)
        self._append(self.games_path, game.accept(exporter) + "\n\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.metrics_path)[0]

    def read_games(self) -> list[chess.pgn.Game]:
        return read_pgn(self.games_path)

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        offsets = self.offsets()
        save_checkpoint(self.checkpoint_path, {**state, "offsets": offsets, "digests": self.digests(offsets)})


def read_pgn(path: Path) -> list[chess.pgn.Game]:
    games = []
    if not path.is_file():
        return games
    with open(path, encoding="utf-8") as handle:
        while (game := chess.pgn.read_game(handle)) is not None:
            if game.headers.get("Result", "*") != "*":
                games.append(game)
    return games

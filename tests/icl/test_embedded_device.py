"""`llm.device`: the embedded backend runs where it is asked to, and refuses a GPU it cannot see in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.errors import BenchError
from bench.learners.icl.embedded import EmbeddedBackend, resolve_device
from bench.learners.icl.prompts import Prompt
from tests.icl.conftest import llm_cfg

PROMPT = Prompt("You play chess.", "Earlier: 1. e4 e5 2. Nf3 Nc6\n", "Your move:")
MOVES = ["Nf3", "e4", "d4", "Nc3", "a3"]


def device_cfg(model: Path, device: str) -> object:
    return llm_cfg(model=str(model), device=device)


def test_device_names_resolve() -> None:
    assert resolve_device("cpu") == "cpu" and resolve_device(None) == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(BenchError, match="choose cpu, cuda"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_is_one_clear_error(tiny_dir: Path) -> None:
    with pytest.raises(BenchError, match="torch sees no CUDA device") as info:
        EmbeddedBackend(device_cfg(tiny_dir, "cuda"))
    assert "\n" not in str(info.value)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_scores_and_greedy_answers_on_cuda_match_the_cpu(tiny_dir: Path) -> None:
    cpu = EmbeddedBackend(device_cfg(tiny_dir, "cpu"))
    gpu = EmbeddedBackend(device_cfg(tiny_dir, "cuda"))
    assert next(gpu.model.parameters()).device.type == "cuda"
    for _ in range(2):  # the second call reuses the cached prefix on the GPU
        a, b = cpu.score(PROMPT, MOVES), gpu.score(PROMPT, MOVES)
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-3)
    assert cpu.generate(PROMPT, 6).text == gpu.generate(PROMPT, 6).text

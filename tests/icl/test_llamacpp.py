"""The llama.cpp backend without llama.cpp: its move grammar, and the one-line error when the extra is missing.

llama-cpp-python compiles from source (8-15 minutes here), so it is not installed and the backend itself never
runs in these tests; what can be checked without it is checked here.
"""

from __future__ import annotations

import importlib.util
import re
from types import SimpleNamespace

import chess
import pytest

from bench.errors import BenchError
from bench.learners.icl.llamacpp import LlamaCppBackend, moves_grammar


def test_the_grammar_has_exactly_the_legal_moves_as_sentences() -> None:
    board = chess.Board("r3k2r/1P6/8/8/8/8/8/R3K2R w KQkq - 0 1")  # castling both ways and promotions with capture
    sans = [board.san(m) for m in board.legal_moves]
    grammar = moves_grammar(sans)
    assert grammar.startswith("root ::= ") and grammar.endswith("\n")
    alternatives = re.findall(r'"((?:[^"\\]|\\.)*)"', grammar)
    assert alternatives == sans
    assert {"O-O", "O-O-O", "bxa8=Q+", "b8=N"} <= set(alternatives)
    assert grammar.count("|") == len(sans) - 1


def test_quotes_and_backslashes_are_escaped() -> None:
    assert moves_grammar(['a"b', "c\\d"]) == 'root ::= "a\\"b" | "c\\\\d"\n'


def test_no_moves_is_an_error() -> None:
    with pytest.raises(ValueError, match="no legal moves"):
        moves_grammar([])


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is not None, reason="llama-cpp-python is installed")
def test_missing_extra_is_one_clear_error() -> None:
    cfg = SimpleNamespace(model="smollm2", context_window=2048, threads=0, parameters=None, grammar=True)
    with pytest.raises(BenchError, match="pip install llama-cpp-python"):
        LlamaCppBackend(cfg)

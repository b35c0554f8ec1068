"""The non-chess task families (issue 19): every checker against hand-made right and wrong answers, generators
reproducible by seed, held-out keys never drawn for training, candidates holding exactly one right answer."""

from __future__ import annotations

import random

import pytest

from bench.errors import BenchError
from bench.learners.rlvr_llm.families import FAMILIES, draw_key, family, heldout_keys, is_heldout, problem

DIFFICULTY = {"addition": 3, "sort": 5, "reverse": 4, "logic": 4}


@pytest.mark.parametrize(("answer", "right"), [("1399", True), (" 1399 ", True), ("1,399", True), ("1398", False),
                                               ("399", False), ("1399 1", False), ("", False), ("thirteen", False)])
def test_addition_checker(answer: str, right: bool) -> None:
    assert family("addition").check("addition:3:482+917", answer) is right


@pytest.mark.parametrize(("answer", "right"), [("7 31 52", True), ("7, 31, 52", True), ("52 31 7", False),
                                               ("7 31", False), ("7 31 52 52", False), ("7 52 31", False)])
def test_sort_checker(answer: str, right: bool) -> None:
    assert family("sort").check("sort:3:52 7 31", answer) is right


@pytest.mark.parametrize(("answer", "right"), [("31 7 52", True), ("52 7 31", False), ("7 31 52", False),
                                               ("31 7", False)])
def test_reverse_checker(answer: str, right: bool) -> None:
    assert family("reverse").check("reverse:3:52 7 31", answer) is right


# Ann=0, Bob=1, Cy=2: "Cy stands somewhere left of Bob. Ann stands directly left of Bob." -> Cy, Ann, Bob only
LOGIC = "logic:3:L 2 1;N 0 1"


@pytest.mark.parametrize(("answer", "right"), [("Cy, Ann, Bob", True), ("cy ann bob", True), ("Ann, Bob, Cy", False),
                                               ("Ann, Cy, Bob", False), ("Cy, Ann", False), ("Cy, Cy, Bob", False),
                                               ("Cy, Ann, Bob, Dee", False)])
def test_logic_checker(answer: str, right: bool) -> None:
    assert family("logic").check(LOGIC, answer) is right


def test_logic_checker_accepts_any_arrangement_satisfying_the_clues() -> None:
    """The checker judges by the clues, not by a stored answer: with one clue, three rows are right."""
    key = "logic:3:F 0"
    assert [family("logic").check(key, a) for a in ("Ann, Bob, Cy", "Ann, Cy, Bob", "Bob, Ann, Cy")] == \
        [True, True, False]


@pytest.mark.parametrize("name", list(FAMILIES))
def test_generators_are_reproducible_by_seed(name: str) -> None:
    fam = family(name)
    draw = [draw_key(fam, random.Random(7), DIFFICULTY[name], False, 0.2) for _ in range(2)]
    assert draw[0] == draw[1]
    many = [[fam.sample_key(r, DIFFICULTY[name]) for _ in range(20)] for r in (random.Random(7), random.Random(7))]
    assert many[0] == many[1]
    assert many[0] != [fam.sample_key(random.Random(8), DIFFICULTY[name]) for _ in range(20)]
    assert heldout_keys(fam, DIFFICULTY[name], 16, 3, 0.2) == heldout_keys(fam, DIFFICULTY[name], 16, 3, 0.2)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_heldout_never_overlaps_training(name: str) -> None:
    fam, d = family(name), DIFFICULTY[name]
    held = set(heldout_keys(fam, d, 64, 12345, 0.2))
    assert len(held) >= 32 and all(is_heldout(k, 0.2) for k in held)
    rng = random.Random(0)
    train = {draw_key(fam, rng, d, False, 0.2) for _ in range(500)}
    assert not train & held
    assert not any(is_heldout(k, 0.2) for k in train)


def test_heldout_split_holds_on_a_small_space() -> None:
    """1-digit addition has 100 instances: the held-out ones are never drawn for training, even exhaustively."""
    fam = family("addition")
    held = set(heldout_keys(fam, 1, 100, 0, 0.2))
    train = {draw_key(fam, random.Random(s), 1, False, 0.2) for s in range(3000)}
    assert held and train and not held & train
    assert len(held) + len(train) <= 100


@pytest.mark.parametrize("name", list(FAMILIES))
def test_candidates_hold_exactly_one_right_answer(name: str) -> None:
    fam, rng = family(name), random.Random(1)
    for _ in range(30):
        p = problem(name, fam.sample_key(rng, DIFFICULTY[name]), 6)
        verdicts = [fam.check(p.key, c) for c in p.candidates]
        assert len(p.candidates) == len(set(p.candidates)) == 6
        assert verdicts.count(True) == 1 and fam.check(p.key, p.answer)
        assert p.candidates == problem(name, p.key, 6).candidates  # order fixed by the key


def test_logic_puzzles_have_one_solution_and_no_spare_clue() -> None:
    fam = FAMILIES["logic"]
    rng = random.Random(4)
    for n in (3, 4, 5):
        key = fam.sample_key(rng, n)
        size, clues = fam.clues(key)  # type: ignore[attr-defined]
        assert size == n and len(fam.solutions(n, clues)) == 1  # type: ignore[attr-defined]
        for c in clues:
            assert len(fam.solutions(n, [x for x in clues if x != c])) > 1  # type: ignore[attr-defined]


def test_bad_names_and_difficulties_are_refused() -> None:
    with pytest.raises(BenchError, match="choose chess or one of"):
        family("sudoku")
    with pytest.raises(BenchError, match="outside"):
        draw_key(family("logic"), random.Random(0), 9, False, 0.2)

"""Verifiable task families other than chess (issue 19): problems made by the project, a difficulty knob, a checker.

Each family turns a seeded generator into problems whose success a program checks, so that seed claim 2 ("chess takes
a lot of RLVR compute compared with other RLVR tasks") gets a yardstick measured with the same learner, the same
counters and the same statistics:

  addition   a + b with `difficulty` digits in each operand               "What is 482 + 917?"       -> 1399
  sort       `difficulty` numbers (0-99) in ascending order                "Sort: 52 7 31"            -> 7 31 52
  reverse    `difficulty` numbers (0-99) in reverse order                  "Reverse: 52 7 31"         -> 31 7 52
  logic      `difficulty` people in a row under clues with one solution   "Bob is left of Ann. ..."  -> Bob, Ann, Cy

A problem is a pure function of its *key* (a canonical text naming the family, the difficulty and the instance), so
a task carries its key only, and the pool, checkpoints and records hold plain strings.

The checker (`Family.check`) reads an answer text and judges it by the problem's rules, not by comparing with a
stored answer: a sum is parsed and compared with a + b; a list must be a permutation of the input in the asked order;
a row must seat every person once and satisfy every clue. So the checkers work for written answers (action=text)
as well as for the candidates of action=choice: the right answer and up to `choices - 1` plausible wrong ones (a
dropped carry, an off-by-one digit, a swapped pair, a permutation breaking one clue), their order fixed by the key.

Held-out split: a key is held out when the first 8 bytes of its SHA-256 fall below `fraction` of the range (per
family and difficulty, about that fraction of the instance space). Training draws only keys outside it and the
held-out set only keys inside it, so the two never overlap, whatever the seeds.

No torch here: this module is data and rules only (tests/rlvr_llm/test_families.py checks every checker by hand).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import random
import re
from dataclasses import dataclass
from typing import Protocol

from bench.errors import BenchError


@dataclass(frozen=True)
class Problem:
    """One instance of a family, rebuilt from its key."""

    key: str
    """Canonical text: `<family>:<difficulty>:<instance>`; the problem is a pure function of it."""
    system: str
    """The instruction (the chat's system message)."""
    question: str
    """The user message."""
    answer: str
    """One right answer, in the answer format (the checker accepts any right answer)."""
    candidates: tuple[str, ...]
    """action=choice: `answer` among wrong answers, in an order fixed by the key."""


def key_hash(key: str) -> int:
    """A stable 64-bit hash of a key (SHA-256; Python's `hash` changes between processes)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def is_heldout(key: str, fraction: float) -> bool:
    """Whether `key` lies in the held-out part of its family's instance space (see the module docstring)."""
    return key_hash(key) < fraction * 2**64


def _numbers(text: str) -> list[int]:
    return [int(x) for x in re.findall(r"-?\d+", text)]


def _with_candidates(key: str, answer: str, wrong: list[str], choices: int) -> tuple[str, ...]:
    """`answer` and the first `choices - 1` distinct wrong answers, shuffled by the key."""
    out = [answer]
    for w in wrong:
        if len(out) >= choices:
            break
        if w not in out:
            out.append(w)
    random.Random(key_hash("order|" + key)).shuffle(out)
    return tuple(out)


class Family(Protocol):
    """What the learner needs of a family."""

    name: str
    min_difficulty: int
    max_difficulty: int

    def sample_key(self, rng: random.Random, difficulty: int) -> str:
        """A random instance's key."""
        ...

    def problem(self, key: str, choices: int) -> Problem:
        """The instance `key` names, with `choices` candidates."""
        ...

    def check(self, key: str, answer: str) -> bool:
        """Whether `answer` solves the instance `key` names, by the family's rules."""
        ...


def _split(key: str, family: str) -> tuple[int, str]:
    name, difficulty, instance = key.split(":", 2)
    if name != family:
        raise BenchError(f"key {key!r} is not a {family} problem")
    return int(difficulty), instance


class Addition:
    """a + b, each operand with exactly `difficulty` digits (1 to 12). Wrong answers: the sum without carries, one
    digit off by one, off by one, two digits swapped."""

    name = "addition"
    min_difficulty, max_difficulty = 1, 12
    system = "You are good at arithmetic. Answer with the number only."

    def sample_key(self, rng: random.Random, difficulty: int) -> str:
        low, high = (0 if difficulty == 1 else 10 ** (difficulty - 1)), 10**difficulty - 1
        return f"{self.name}:{difficulty}:{rng.randint(low, high)}+{rng.randint(low, high)}"

    def operands(self, key: str) -> tuple[int, int]:
        _, instance = _split(key, self.name)
        a, b = instance.split("+")
        return int(a), int(b)

    def problem(self, key: str, choices: int) -> Problem:
        a, b = self.operands(key)
        total = a + b
        no_carry = int("".join(str((int(x) + int(y)) % 10) for x, y in
                               zip(str(a).zfill(len(str(total))), str(b).zfill(len(str(total))))))
        rng = random.Random(key_hash(key))
        digits = str(total)
        wrong = [no_carry]
        places = list(range(len(digits)))
        rng.shuffle(places)
        for p in places:
            step = 10 ** (len(digits) - 1 - p)
            wrong.append(total + step if rng.random() < 0.5 else total - step)
        wrong += [total + 1, total - 1]
        if len(digits) >= 2:
            i = rng.randrange(len(digits) - 1)
            wrong.append(int(digits[:i] + digits[i + 1] + digits[i] + digits[i + 2:]))
        wrong += [total + 10, total - 10, total + 2, total - 2]
        texts = [str(w) for w in wrong if w >= 0 and w != total]
        return Problem(key, self.system, f"What is {a} + {b}?", str(total),
                       _with_candidates(key, str(total), texts, choices))

    def check(self, key: str, answer: str) -> bool:
        a, b = self.operands(key)
        found = _numbers(answer.replace(",", ""))
        return len(found) == 1 and found[0] == a + b


class ListOrder:
    """`difficulty` numbers from 0 to 99 (3 to 12 of them) to sort ascending or to reverse. Wrong answers: the input
    as given, the other order, the right answer with one neighbouring pair swapped."""

    min_difficulty, max_difficulty = 3, 12

    def __init__(self, op: str) -> None:
        if op not in ("sort", "reverse"):
            raise BenchError(f"list family {op!r}: sort or reverse")
        self.name = op
        task = "sort lists of numbers in ascending order" if op == "sort" else "reverse lists of numbers"
        self.system = f"You {task}. Answer with the numbers separated by spaces and nothing else."

    def sample_key(self, rng: random.Random, difficulty: int) -> str:
        return f"{self.name}:{difficulty}:" + " ".join(str(rng.randint(0, 99)) for _ in range(difficulty))

    def items(self, key: str) -> list[int]:
        _, instance = _split(key, self.name)
        return [int(x) for x in instance.split()]

    def target(self, items: list[int]) -> list[int]:
        return sorted(items) if self.name == "sort" else items[::-1]

    def problem(self, key: str, choices: int) -> Problem:
        items = self.items(key)
        right = self.target(items)
        rng = random.Random(key_hash(key))
        wrong = [items, sorted(items) if self.name == "reverse" else items[::-1], sorted(items, reverse=True)]
        pairs = list(range(len(right) - 1))
        rng.shuffle(pairs)
        for i in pairs:
            w = list(right)
            w[i], w[i + 1] = w[i + 1], w[i]
            wrong.append(w)
        for _ in range(4 * choices):
            w = list(right)
            rng.shuffle(w)
            wrong.append(w)
        text = " ".join(map(str, right))
        wrong_texts = [" ".join(map(str, w)) for w in wrong if w != right]
        verb = "Sort in ascending order" if self.name == "sort" else "Reverse the order of"
        return Problem(key, self.system, f"{verb}: {' '.join(map(str, items))}", text,
                       _with_candidates(key, text, wrong_texts, choices))

    def check(self, key: str, answer: str) -> bool:
        return _numbers(answer) == self.target(self.items(key))


NAMES = ("Ann", "Bob", "Cy", "Dee", "Eve", "Fay")


class LinePuzzle:
    """`difficulty` people (3 to 6) in a row, clues with exactly one arrangement satisfying them all. Clues:
    `L a b` (a stands somewhere left of b), `N a b` (a stands directly left of b), `F a` (a is first), `E a` (a is
    last). The generator adds true clues about a random row until one arrangement is left, then drops every clue not
    needed for that. Wrong answers: other arrangements, those breaking the fewest clues first."""

    name = "logic"
    min_difficulty, max_difficulty = 3, 6
    system = ("You solve logic puzzles. Answer with the names from left to right, separated by commas, and nothing "
              "else.")

    @staticmethod
    def holds(clue: tuple[str, ...], row: tuple[int, ...]) -> bool:
        where = {p: i for i, p in enumerate(row)}
        kind, *who = clue
        people = [int(w) for w in who]
        if kind == "L":
            return where[people[0]] < where[people[1]]
        if kind == "N":
            return where[people[0]] + 1 == where[people[1]]
        if kind == "F":
            return where[people[0]] == 0
        if kind == "E":
            return where[people[0]] == len(row) - 1
        raise BenchError(f"unknown clue {clue!r}")

    def solutions(self, n: int, clues: list[tuple[str, ...]]) -> list[tuple[int, ...]]:
        return [row for row in itertools.permutations(range(n)) if all(self.holds(c, row) for c in clues)]

    def sample_key(self, rng: random.Random, difficulty: int) -> str:
        n = difficulty
        row = list(range(n))
        rng.shuffle(row)
        truth = tuple(row)
        clues: list[tuple[str, ...]] = []
        while len(self.solutions(n, clues)) > 1:
            a, b = rng.sample(range(n), 2)
            kind = rng.choices(("L", "N", "F", "E"), weights=(4, 2, 1, 1))[0]
            clue: tuple[str, ...]
            if kind in ("L", "N"):
                first, second = (a, b) if truth.index(a) < truth.index(b) else (b, a)
                if kind == "N" and truth.index(second) != truth.index(first) + 1:
                    kind = "L"
                clue = (kind, str(first), str(second))
            else:
                clue = (kind, str(truth[0] if kind == "F" else truth[-1]))
            if clue not in clues:
                clues.append(clue)
        for clue in list(clues):  # drop clues the answer does not need
            rest = [c for c in clues if c != clue]
            if len(self.solutions(n, rest)) == 1:
                clues = rest
        return f"{self.name}:{n}:" + ";".join(" ".join(c) for c in clues)

    def clues(self, key: str) -> tuple[int, list[tuple[str, ...]]]:
        n, instance = _split(key, self.name)
        return n, [tuple(c.split()) for c in instance.split(";") if c]

    @staticmethod
    def text(row: tuple[int, ...]) -> str:
        return ", ".join(NAMES[p] for p in row)

    def problem(self, key: str, choices: int) -> Problem:
        n, clues = self.clues(key)
        found = self.solutions(n, clues)
        if len(found) != 1:
            raise BenchError(f"logic puzzle {key!r} has {len(found)} solutions, not one")
        words = {"L": "{0} stands somewhere left of {1}.", "N": "{0} stands directly left of {1}.",
                 "F": "{0} is first.", "E": "{0} is last."}
        said = " ".join(words[c[0]].format(*(NAMES[int(p)] for p in c[1:])) for c in clues)
        people = list(NAMES[:n])
        question = (f"{', '.join(people[:-1])} and {people[-1]} stand in a row. {said} "
                    "Who stands where, from left to right?")
        rng = random.Random(key_hash(key))
        others = [row for row in itertools.permutations(range(n)) if row != found[0]]
        rng.shuffle(others)
        others.sort(key=lambda row: sum(not self.holds(c, row) for c in clues))
        return Problem(key, self.system, question, self.text(found[0]),
                       _with_candidates(key, self.text(found[0]), [self.text(r) for r in others], choices))

    def check(self, key: str, answer: str) -> bool:
        n, clues = self.clues(key)
        index = {name.lower(): i for i, name in enumerate(NAMES[:n])}
        words = re.findall(r"[A-Za-z]+", answer)
        if len(words) != n or any(w.lower() not in index for w in words):
            return False
        row = tuple(index[w.lower()] for w in words)
        return len(set(row)) == n and all(self.holds(c, row) for c in clues)


FAMILIES: dict[str, Family] = {"addition": Addition(), "sort": ListOrder("sort"), "reverse": ListOrder("reverse"),
                               "logic": LinePuzzle()}
"""Every non-chess family by name (`learner.family.name`)."""


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise BenchError(f"learner.family.name={name!r}; choose chess or one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


@functools.lru_cache(maxsize=8192)
def problem(name: str, key: str, choices: int) -> Problem:
    """`family(name).problem(key, choices)`, cached (a 6-person puzzle takes about 0.1 s to rebuild)."""
    return family(name).problem(key, choices)


def draw_key(fam: Family, rng: random.Random, difficulty: int, heldout: bool, fraction: float,
             max_tries: int = 10_000) -> str:
    """A key on the asked side of the held-out split (rejection sampling, bounded)."""
    if not fam.min_difficulty <= difficulty <= fam.max_difficulty:
        raise BenchError(f"family {fam.name}: difficulty {difficulty} outside [{fam.min_difficulty}, "
                         f"{fam.max_difficulty}]")
    for _ in range(max_tries):
        key = fam.sample_key(rng, difficulty)
        if is_heldout(key, fraction) == heldout:
            return key
    side = "held-out" if heldout else "training"
    raise BenchError(f"family {fam.name} at difficulty {difficulty}: no {side} instance in {max_tries} draws "
                     f"(heldout_fraction={fraction})")


def heldout_keys(fam: Family, difficulty: int, count: int, seed: int, fraction: float) -> list[str]:
    """`count` distinct held-out keys drawn with `seed` (fewer when the held-out part of the space is smaller)."""
    rng = random.Random(seed)
    keys: list[str] = []
    seen: set[str] = set()
    for _ in range(50 * count):
        if len(keys) >= count:
            break
        key = draw_key(fam, rng, difficulty, True, fraction)
        if key not in seen:
            seen.add(key)
            keys.append(key)
    return keys


__all__ = ["Addition", "FAMILIES", "Family", "LinePuzzle", "ListOrder", "NAMES", "Problem", "draw_key", "family",
           "heldout_keys", "is_heldout", "key_hash", "problem"]

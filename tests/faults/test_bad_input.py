"""Bad input, fuzzed with hypothesis: config overrides, ladder files, opening suites, EPD/FEN task files and the
report's input folders. Every case must end in a valid result or one clear line (a `BenchError`, or a config
error that the CLI prints as one line): never another exception (a traceback wall), never a hang, and never
partial output left behind.
"""

from __future__ import annotations

import math
import shutil
import signal
import string
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import chess
import pytest
from hydra.errors import HydraException
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from omegaconf.errors import OmegaConfBaseException
from yaml import YAMLError

from bench.errors import BenchError
from tests.faults.conftest import Ledger

ONE_LINE_ERRORS = (BenchError, HydraException, OmegaConfBaseException, YAMLError)
"""What `bench.cli.guarded` prints as one line (exit code 2)."""
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class Hang(Exception):
    pass


@contextmanager
def no_hang(seconds: int = 20) -> Iterator[None]:
    """Fail the example (rather than the suite) when one case runs past `seconds`."""
    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"no answer within {seconds}s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def one_line(exc: BaseException) -> str:
    from bench.cli import config_error_line

    text = str(exc) if isinstance(exc, BenchError) else config_error_line(exc)
    assert text and "\n" not in text and "Traceback" not in text, text
    return text


class Tally:
    """How a fuzz test's cases ended, for the ledger: valid results and clear errors both count as survived."""

    def __init__(self, ledger: Ledger, name: str) -> None:
        self.ledger, self.name = ledger, name

    @contextmanager
    def case(self) -> Iterator[None]:
        with self.ledger.fault(self.name) as outcome:
            with no_hang():
                try:
                    yield
                except ONE_LINE_ERRORS as exc:
                    one_line(exc)
                    outcome.by_error_message()
                except ValueError as exc:  # Hydra rejects some overrides with a ValueError; the CLI prints one line
                    from bench.cli import raised_by_config_library

                    if not raised_by_config_library(exc):
                        raise
                    one_line(exc)
                    outcome.by_error_message()


# ------------------------------------------------------------------------------------------------ text pieces

SAN = ["e4", "e5", "Nf3", "Nc6", "Bb5", "a6", "d4", "exd4", "O-O", "O-O-O", "Qh5", "Qxf7#", "e8=Q", "Ke9", "Zz",
       "1.", "2...", "*", "1-0", "{comment}", "(", ")", "$1", "Nbd7", "h9", "", "--", "\x00", "é", "Bxc6+"]
junk = st.text(alphabet=string.printable + "é♞\x00\x7f", max_size=40)
lines = st.one_of(
    junk,
    st.builds(lambda name, moves: f"{name}: {' '.join(moves)}", junk, st.lists(st.sampled_from(SAN), max_size=10)),
    st.sampled_from(["# a comment", "", "   ", "Italian: e4 e5 Nf3 Nc6 Bc4", "Fool: f3 e5 g4 Qh4#", ":", "x:"]),
)


@given(text_lines=st.lists(lines, max_size=8), raw=st.binary(max_size=16))
@FUZZ
def test_opening_suites(text_lines: list[str], raw: bytes, tmp_path: Path, ledger: Ledger) -> None:
    from bench.games import load_openings

    path = tmp_path / "suite.txt"
    path.write_bytes("\n".join(text_lines).encode("utf-8", "surrogatepass") + (b"\n" + raw if raw else b""))
    with Tally(ledger, "bad input: opening suite").case():
        openings = load_openings(str(path))
        for opening in openings:
            assert opening.name and not opening.board().is_game_over()


FENS = ["rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1", "6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - 0 1",
        "8/8/8/8/8/8/8/8 w - - 0 1", "k7/8/8/8/8/8/8/K7 w - - 0 1", "7k/5Q2/6K1/8/8/8/8/8 b - - 0 1"]
EPD_OPS = ["bm Qxf7#;", "bm Ra8#;", "id \"t1\";", "verifier mate;", "verifier nonsense;", "horizon 0;", "horizon x;",
           "horizon 3;", "opponent random;", "bm;", ";;", "c0 \"unterminated"]


def mutate(fen: str, cut: int, ops: list[str]) -> str:
    fields = fen.split()
    return " ".join(fields[: max(1, min(cut, 6))]) + (" " + " ".join(ops) if ops else "")


task_lines = st.one_of(junk, st.builds(mutate, st.sampled_from(FENS), st.integers(0, 6),
                                       st.lists(st.sampled_from(EPD_OPS), max_size=3)))


TASK_DEFAULTS = {"verifier": "mate", "horizon": 1, "opponent": "random", "generator": "fuzz"}


@given(text_lines=st.lists(task_lines, max_size=6))
@FUZZ
def test_epd_and_fen_task_files(text_lines: list[str], tmp_path: Path, ledger: Ledger) -> None:
    from bench.learners.rlvr.tasks import load_task_file

    path = tmp_path / "tasks.epd"
    path.write_text("\n".join(text_lines).encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
    with Tally(ledger, "bad input: EPD/FEN task file").case():
        for task in load_task_file(path, TASK_DEFAULTS):
            board = chess.Board(task.fen)
            assert board.is_valid() and not board.is_game_over() and task.horizon >= 1


def test_a_task_file_that_is_not_utf8(tmp_path: Path) -> None:
    from bench.learners.rlvr.tasks import load_task_file

    path = tmp_path / "tasks.epd"
    path.write_bytes(b"8/8/8/8/8/8/8/K6k w - - 0 1\n\x80\xff\n")
    with pytest.raises(BenchError, match=str(path)):
        load_task_file(path, TASK_DEFAULTS)


# --------------------------------------------------------------------------------------- configs and ladders

class ValidConfig(Exception):
    """Raised where `run()` would create the run directory: every check before it has passed."""


@pytest.fixture(scope="module")
def identity() -> dict[str, str]:
    from bench.players import engine_identity, find_stockfish

    return engine_identity(find_stockfish())


@pytest.fixture
def stop_before_writing(monkeypatch: pytest.MonkeyPatch, identity: dict[str, str]) -> None:
    monkeypatch.setattr("bench.run.engine_identity", lambda binary: identity)  # one Stockfish start, not one per case

    class NoRunDir:
        @classmethod
        def create(cls, *args: Any, **kwargs: Any) -> None:
            raise ValidConfig

        open_for_resume = create

    monkeypatch.setattr("bench.run.RunDir", NoRunDir)


KEYS = ["budget.amount", "budget.evals", "budget.first", "budget.unit", "budget.points", "eval.games", "eval.rungs",
        "eval.rounds", "eval.max_plies", "eval.openings", "eval.concurrency", "eval.adjudication.win_cp",
        "eval.adjudication.at_ply_cap", "runtime.kind", "stockfish.move_timeout", "seed", "learner", "ladder",
        "eval", "budget.nonsense", "nonsense", "learner.name"]
VALUES = st.one_of(
    st.integers(-3, 5).map(str), st.sampled_from(["0", "-1", "1e400", "nan", "inf", "-inf", "0.5", "1e-9", "2.5"]),
    st.sampled_from(["games", "wall_s", "flops", "ray", "local", "draw", "engine", "quick", "default", "random",
                     "mcts", "[1,2]", "[]", "[3,1]", "[-1]", "null", "${oc.env:NOPE}", "${budget.amount}", "{a: 1}",
                     "'quoted'", "[", "}", "\\", "~", "ø", "default.txt", "/nonexistent.txt"]),
)
overrides = st.lists(st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), VALUES), min_size=1, max_size=4)


def check_config(args: list[str], conf_dir: Path | None = None) -> None:
    """Compose (as the CLI does) and run up to the point where the run directory would be created."""
    from hydra import compose, initialize_config_dir

    from bench.cli import CONFIG_PATH, register
    from bench.run import run

    register()
    with initialize_config_dir(config_dir=str(conf_dir or CONFIG_PATH), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["learner=random", "ladder=quick", "eval=quick", *args])
    try:
        run(cfg, run_dir="/nonexistent/never-written")
    except ValidConfig:
        budget = cfg.budget
        assert budget.amount > 0 and math.isfinite(float(budget.amount)), f"accepted a budget of {budget.amount}"
        rungs = list(cfg.ladder.rungs)  # an accepted ladder is sound: what the harness lets through can be played
        assert len(rungs) >= 2 and len({r.name for r in rungs}) == len(rungs), f"accepted rungs {rungs}"
        for r in rungs:
            assert r.kind in ("random", "stockfish") and 0 <= r.epsilon <= 1, f"accepted rung {r}"
            assert r.kind == "random" or any(v is not None for v in (r.nodes, r.depth, r.movetime)), f"accepted {r}"


@given(args=overrides)
@example(args=["budget.amount=inf"]).via("an endless budget")
@example(args=["budget.amount=nan"]).via("not a number")
@example(args=["learner=0"]).via("a number for a config group")
@example(args=["budget.points=[-1]"]).via("a negative evaluation point")
@example(args=["budget.points=[]", "budget.evals=0"]).via("no evaluation at all")
@example(args=["eval.openings=/nonexistent.txt"]).via("a missing opening suite")
@settings(FUZZ, max_examples=20)
def test_config_overrides(args: list[str], stop_before_writing: None, ledger: Ledger) -> None:
    with Tally(ledger, "bad input: config overrides").case():
        check_config(args)


BASE_RUNGS = [{"name": "random", "kind": "random"}, {"name": "eps80", "uci_elo": 1350, "nodes": 1000, "epsilon": 0.8},
              {"name": "eps40", "uci_elo": 1350, "nodes": 1000, "epsilon": 0.4}, {"name": "elo1350", "uci_elo": 1350,
              "nodes": 1000}, {"name": "sf", "skill_level": 3, "movetime": 0.01}]
"""Rungs of the quick ladder (its calibration rates them) and one it does not rate: changed by `RUNG_FIELDS`."""
RUNG_FIELDS = st.builds(lambda base, change: {**base, **change}, st.sampled_from(BASE_RUNGS),
                        st.just({}) | st.fixed_dictionaries({}, optional={
                            "name": st.sampled_from(["random", "sf", "", "a b"]),
                            "kind": st.sampled_from(["random", "stockfish", "lc0", ""]),
                            "nodes": st.one_of(st.integers(-5, 2000), st.none()),
                            "uci_elo": st.one_of(st.sampled_from([1000, 1350, 2000, 2850, 4000]), st.none()),
                            "skill_level": st.one_of(st.integers(-2, 25), st.none()),
                            "epsilon": st.one_of(st.floats(-1, 2), st.just(float("nan"))),
                            "depth": st.one_of(st.integers(-1, 3), st.none()),
                        }))
"""Rungs whose every field has the schema's type (`RungConfig`), so they pass OmegaConf's type checks and meet the
harness's own validation (`bench.ladder.rungs_from_config`, the calibration and the anchor checks)."""
LADDER = st.fixed_dictionaries({
    "rungs": st.lists(RUNG_FIELDS, min_size=2, max_size=4, unique_by=lambda r: r["name"]) | st.lists(RUNG_FIELDS,
                                                                                                   max_size=4),
    "anchor": st.sampled_from(["elo1350", "random", "eps40", "missing", ""]),
    "anchor_elo": st.sampled_from([1350, 0, -1e9]),
    "calibration": st.sampled_from(["quick.calibration.json", "missing.json", "", "../../etc/passwd"]),
    "name": st.sampled_from(["fuzz", "", "x y"]),
})
QUICK = {"rungs": [BASE_RUNGS[0], BASE_RUNGS[2], BASE_RUNGS[3]], "anchor": "elo1350", "anchor_elo": 1350,
         "calibration": "quick.calibration.json", "name": "fuzz"}
"""A valid ladder of quick rungs; the explicit examples break one thing in it, so each reaches the check it is for."""
SCHEMA_BREAKERS = st.sampled_from([{"rungs": "not a list"}, {"rungs": None}, {"name": None}, {"anchor_elo": "x"},
                                   {"rungs": [{"name": "sf", "nodes": "many"}]}, {"rungs": [{"kind": "random"}]},
                                   {"rungs": [{"name": "sf", "bogus": 1}]}, {"rungs": [{"name": "sf", "kind": 3}]}])
"""Values of the wrong type, unknown fields and missing mandatory ones: OmegaConf rejects these before the harness
sees them (about one case in five)."""


@pytest.fixture(scope="module")
def fuzz_conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bench.config import CONF_DIR

    conf = tmp_path_factory.mktemp("ladder-fuzz") / "conf"
    shutil.copytree(CONF_DIR, conf)
    return conf


REACH_AT_LEAST = 0.6
"""Share of YAML-parseable fuzzed ladder files that must get past the config libraries to the harness's own checks
(a `BenchError`, or a valid config): a fuzzer whose cases all die in OmegaConf's type checks tests OmegaConf."""


def test_ladder_files(fuzz_conf: Path, stop_before_writing: None, ledger: Ledger) -> None:
    import yaml

    ends: dict[str, int] = {"harness": 0, "valid": 0, "config library": 0, "broken yaml": 0}

    @given(ladder=LADDER, broken_yaml=st.sampled_from([False] * 4 + [True]),
           breaker=st.one_of(*[st.none()] * 4, SCHEMA_BREAKERS))
    @example(ladder={"rungs": BASE_RUNGS[:2], "anchor": "random", "anchor_elo": 0, "calibration": "", "name": "x"},
             broken_yaml=True, breaker=None).via("YAML that does not parse")
    @example(ladder={**QUICK, "rungs": [BASE_RUNGS[0], {**BASE_RUNGS[2], "epsilon": 1.5}, BASE_RUNGS[3]]},
             broken_yaml=False, breaker=None).via("an epsilon above 1 on a ladder otherwise valid")
    @example(ladder={**QUICK, "rungs": [BASE_RUNGS[0], {**BASE_RUNGS[2], "kind": "lc0"}, BASE_RUNGS[3]]},
             broken_yaml=False, breaker=None).via("an unknown engine on a ladder otherwise valid")
    @example(ladder={**QUICK, "rungs": [BASE_RUNGS[0], BASE_RUNGS[3], BASE_RUNGS[3]]},
             broken_yaml=False, breaker=None).via("a rung twice on a ladder otherwise valid")
    @example(ladder={**QUICK, "rungs": [BASE_RUNGS[0], {**BASE_RUNGS[3], "nodes": None}]},
             broken_yaml=False, breaker=None).via("an engine rung without a limit on a ladder otherwise valid")
    @example(ladder=QUICK, broken_yaml=False, breaker=None).via("a valid ladder")
    @settings(FUZZ, max_examples=40)
    def case(ladder: dict[str, Any], broken_yaml: bool, breaker: dict[str, Any] | None) -> None:
        ladder = {**ladder, **(breaker or {})}
        text = "defaults: [base_ladder, _self_]\n" + yaml.safe_dump(ladder)
        if broken_yaml:
            text += "rungs: [ {name: x, kind: \n"
        (fuzz_conf / "ladder" / "fuzz.yaml").write_text(text)
        end = "broken yaml" if broken_yaml else "valid"
        try:
            with Tally(ledger, "bad input: ladder file").case():
                try:
                    check_config(["ladder=fuzz"], fuzz_conf)
                except BenchError:
                    end = "harness" if not broken_yaml else end
                    raise
                except ONE_LINE_ERRORS:
                    end = "config library" if not broken_yaml else end
                    raise
        finally:
            ends[end] += 1

    case()
    parsed = ends["harness"] + ends["valid"] + ends["config library"]
    reached = ends["harness"] + ends["valid"]
    share = reached / max(1, parsed)
    note = (f"{reached}/{parsed} ({share:.0%}) YAML-parseable ladder files reached the harness's own validation "
            f"({ends['harness']} refused by it, {ends['valid']} valid; {ends['config library']} stopped by "
            f"OmegaConf/Hydra; {ends['broken yaml']} more were broken YAML)")
    print(note)
    ledger.notes["bad input: ladder file"].add(note)
    assert share >= REACH_AT_LEAST, note


# ------------------------------------------------------------------------------------------- report folders

RECORD_KEYS = ["eval_index", "elo", "elo_ci", "games", "compute", "samples", "learner", "budget", "ladder", "seed"]
record_values = st.one_of(st.none(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=5),
                          st.lists(st.floats(allow_nan=True), max_size=3), st.dictionaries(st.text(max_size=4),
                                                                                            st.integers(), max_size=2))
records = st.lists(st.dictionaries(st.sampled_from(RECORD_KEYS), record_values, max_size=6), max_size=3)


@given(recs=records, tail=st.binary(max_size=30),
       config=st.sampled_from(["", "learner: {name: mcts}\nseed: 1\n", ":\n- [", "42"]),
       pgn=st.sampled_from(["", "[Event \"x\"]\n\n1. e4 *\n", "garbage {", "[Result \"1-0\"]\n1. e4 e5 1-0\n"]))
@example(recs=[{"eval_index": 0, "elo": -600.0, "learner": "random", "seed": 0}, {"eval_index": None, "elo": 1.0},
               {"eval_index": 1, "elo": float("nan")}, {"eval_index": 2, "elo": 0.0, "compute": {"wall_s": "x"}}],
         tail=b"", config="", pgn="").via("one good record among malformed ones")
@settings(FUZZ, max_examples=10)
def test_report_input_folders(recs: list[dict[str, Any]], tail: bytes, config: str, pgn: str, tmp_path: Path,
                              ledger: Ledger) -> None:
    import json

    from bench.report.build import build_report

    run_dir = tmp_path / "in" / "run"
    shutil.rmtree(tmp_path / "in", ignore_errors=True)
    run_dir.mkdir(parents=True)
    body = "".join(json.dumps(r) + "\n" for r in recs).encode() + tail
    (run_dir / "metrics.jsonl").write_bytes(body)
    (run_dir / "config.yaml").write_text(config)
    (run_dir / "games.pgn").write_text(pgn)
    out = tmp_path / "out"
    shutil.rmtree(out, ignore_errors=True)
    with Tally(ledger, "bad input: report folder").case():
        try:
            build_report([tmp_path / "in"], out)
        except BenchError:
            assert not out.exists() or not any(out.iterdir()), "an error left partial report output behind"
            raise

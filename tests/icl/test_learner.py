"""The icl learner on a tiny random model: training games, frozen histories, records, resume; engine feedback;
and end-to-end runs of the harness (one over HTTP, scanned for the API key)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import chess
import chess.pgn
import pytest
import torch

from bench.compute import ComputeMeter
from bench.errors import BenchError
from bench.learners import LearnerContext
from bench.learners.icl.feedback import worst_moves
from bench.learners.icl.learner import TRAIN_PGN, IclLearner
from bench.learners.icl.player import Tally
from bench.players import open_engine
from bench.results import RunDir
from bench.run import run
from tests.conftest import compose_config
from tests.icl.test_http import KEY, server  # noqa: F401 (the loopback server fixture)


def icl_cfg(model: Path, *overrides: str) -> Any:
    return compose_config(["learner=icl", "ladder=quick", "eval=quick", "progress=false", f"llm.model={model}",
                           "learner.max_plies=12", *overrides])


OPEN_LEARNERS: list[IclLearner] = []
"""Every learner `learner()` made; tests/icl/conftest.py closes them after each test, so a failing or interrupted test
leaves no Stockfish process behind (close() is idempotent, so the tests' own close() calls stay)."""


def learner(cfg: Any, run_dir: Path | None = None, meter: ComputeMeter | None = None) -> IclLearner:
    context = LearnerContext(meter=meter or ComputeMeter(), seed=3, runtime=cfg.runtime, stockfish=cfg.stockfish,
                             rungs=list(cfg.ladder.rungs), llm=cfg.llm, run_dir=run_dir)
    made = IclLearner(cfg.learner, context)
    OPEN_LEARNERS.append(made)
    return made


def test_improve_plays_a_game_into_the_context_and_reports_compute(tiny_dir: Path, tmp_path: Path) -> None:
    meter = ComputeMeter()
    lrn = learner(icl_cfg(tiny_dir), tmp_path, meter)
    before = lrn.make_player()
    assert before.history == ""
    lrn.improve()
    lrn.improve()
    records = lrn.memory.records
    assert [r.color for r in records] == ["White", "Black"] and all(r.plies <= 12 for r in records)
    assert meter.spent("games") == 2
    train = lrn.train_tally.snapshot()
    assert meter.spent("tokens") == train["tokens_in"] + train["tokens_out"] > 0
    assert meter.infer_flops == train["flops"] > 0  # measured per call (test_measured_flops_*)
    assert train["moves"] == sum((r.plies + (r.color == "White")) // 2 for r in records)
    samples = meter.snapshot()["samples"]
    assert samples["positions"] == train["moves"] and samples["episodes"] == samples["games"] == 2
    assert samples["forward_passes"] == train["calls"] == train["moves"]  # score mode: one call per move
    assert meter.engine_nodes == 0 and meter.snapshot()["episode_kind"] == "games"  # the random opponent
    info = lrn.eval_info()
    assert info["outside_knowledge"] == ["pretrained model"] and info["flops_method"].startswith("measured")
    after = lrn.make_player()
    assert after.history.count("Game ") == 2 and records[0].moves in after.history
    assert before.history == ""  # a player's history is frozen when it is made
    assert (tmp_path / TRAIN_PGN).read_text().count("[Event \"icl training\"]") == 2
    lrn.close()


def test_eval_info_reports_the_context_and_the_evaluation_then_resets(tiny_dir: Path) -> None:
    lrn = learner(icl_cfg(tiny_dir))
    lrn.improve()
    player = lrn.make_player()
    board = chess.Board()
    for _ in range(3):
        board.push(player.play(board).move)
    info = lrn.eval_info()
    assert info["games_played"] == 1 and info["games_in_context"] == 1 and info["history_tokens"] > 0
    assert info["eval"]["moves"] == 3 and info["eval"]["forfeits"] == 0 and info["eval"]["tokens_in"] > 0
    assert info["train"]["moves"] > 0 and info["mode"] == "score" and info["parameters"] == lrn.backend.parameters
    assert lrn.eval_info()["eval"]["moves"] == 0
    lrn.close()


def test_state_dict_round_trip_through_torch_save(tiny_dir: Path) -> None:
    cfg = icl_cfg(tiny_dir, "learner.context_tokens=2000")
    lrn = learner(cfg)
    lrn.improve()
    lrn.improve()
    buffer = io.BytesIO()
    torch.save(lrn.state_dict(), buffer)
    again = learner(cfg)
    again.load_state_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))
    assert again.games == 2 and again.memory.records == lrn.memory.records
    assert again.make_player().history == lrn.make_player().history
    again.improve()  # continues with the third training game (colours alternate: White again)
    assert again.memory.records[-1].index == 3 and again.memory.records[-1].color == "White"
    lrn.close()
    again.close()


def test_context_budget_drops_old_games(tiny_dir: Path) -> None:
    lrn = learner(icl_cfg(tiny_dir, "learner.context_tokens=120"))
    for _ in range(3):
        lrn.improve()
    info = lrn.memory.info()
    assert info["games_played"] == 3 and info["games_in_context"] < 3 and info["history_tokens"] <= 120
    lrn.close()


def test_bad_settings_are_one_clear_error(tiny_dir: Path) -> None:
    with pytest.raises(BenchError, match="learner.mode"):
        learner(icl_cfg(tiny_dir, "learner.mode=think"))
    with pytest.raises(BenchError, match="opponent"):
        learner(icl_cfg(tiny_dir, "learner.opponent=nobody")).improve()
    with pytest.raises(BenchError, match="context_tokens"):
        learner(icl_cfg(tiny_dir, "learner.context_tokens=100000"))
    # score mode through an OpenAI-compatible server is supported now (prompt log-probabilities, detected on first
    # use): its absence is one clear line from the HTTP backend, tested in tests/icl/test_http*.py


@pytest.mark.stockfish
def test_engine_feedback_names_the_blunder_and_the_best_move() -> None:
    board = chess.Board()
    moves = [board.push_san(san) for san in ("e4", "e5", "Qh5", "Nc6", "Bc4", "Nf6", "Qxf7#")]
    with open_engine() as engine:
        mistakes, calls = worst_moves(engine, moves, chess.BLACK, nodes=5000, count=3, min_drop_cp=100)
    assert calls >= 3
    assert mistakes and mistakes[0].played == "Nf6" and mistakes[0].move_number == "3..."
    assert mistakes[0].best in ("g6", "Qe7", "Qf6") and mistakes[0].drop_cp >= 5000


@pytest.mark.stockfish
def test_training_against_a_stockfish_rung_with_feedback(tiny_dir: Path, tmp_path: Path) -> None:
    meter = ComputeMeter()
    lrn = learner(icl_cfg(tiny_dir, "learner.opponent=eps40", "learner.feedback=engine", "learner.max_plies=30",
                          "learner.feedback_nodes=2000"), run_dir=tmp_path, meter=meter)
    lrn.improve()
    record = lrn.memory.records[0]
    assert record.opponent == "eps40" and meter.verifier_calls == lrn.feedback_calls > 0
    # engine nodes: the opponent's, as its engine reported them per move (the PGN's node count), plus feedback's
    game = chess.pgn.read_game(io.StringIO((tmp_path / TRAIN_PGN).read_text()))
    opponent = int(game.headers["BlackNodes" if record.color == "White" else "WhiteNodes"])
    assert opponent > 0 and lrn.feedback_nodes >= lrn.feedback_calls * 2000 * 0.5
    assert meter.engine_nodes == opponent + lrn.feedback_nodes
    assert meter.engine_starts == 2 and meter.engine_new_games == 2  # opponent and feedback engines: one game each
    assert lrn.eval_info()["outside_knowledge"] == ["pretrained model", "engine opponent", "engine feedback"]
    assert record.mistakes and all(m.drop_cp >= 100 for m in record.mistakes)  # a random-weight model blunders
    assert "Your worst moves" in lrn.make_player().history
    lrn.close()


class LlamaShapes:
    """FLOP-relevant sizes of a Llama folder, read from its config.json: weights of the linear layers inside the
    blocks (q, k, v, o, gate, up, down), of the output layer, and FLOPs per attended query-key pair."""

    def __init__(self, folder: Path) -> None:
        import json

        c = json.loads((folder / "config.json").read_text())
        d, inter, layers = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
        kv = d * c["num_key_value_heads"] // c["num_attention_heads"]
        self.linear = layers * (2 * d * d + 2 * d * kv + 3 * d * inter)
        self.output = d * c["vocab_size"]
        self.per_pair = 2 * 2 * d * layers  # QK^T and PV over every head


@pytest.mark.stockfish
def test_run_writes_an_elo_per_history_size(tiny_dir: Path, tmp_path: Path) -> None:
    cfg = icl_cfg(tiny_dir, "budget.unit=games", "budget.amount=2", "budget.points=[1,2]", "eval.games=2",
                  "eval.max_plies=16", "eval.concurrency=2", "eval.allow_uncalibrated_rules=true")
    run(cfg, run_dir=tmp_path / "run")
    records = RunDir(tmp_path / "run").read_metrics()
    assert [r["learner_info"]["games_in_context"] for r in records] == [0, 1, 2]
    for r in records:
        assert r["games"] == 2 and r["learner_info"]["eval"]["moves"] > 0
    # learning's inference FLOPs are the training games' calls as FlopCounterMode measured them (the train tally,
    # cumulative), none before the first game; evaluation's calls are not learning compute and stay out
    flops = [r["compute"]["infer_flops"] for r in records]
    assert flops == [r["learner_info"]["train"]["flops"] for r in records]
    assert flops[0] == 0 and 0 < flops[1] < flops[2]
    model = LlamaShapes(tiny_dir)
    for r in records[1:]:  # each token run passes every linear layer once (2 FLOPs per weight); fewer than
        train = r["learner_info"]["train"]  # tokens x (linear + output layer) + every pair of tokens attended
        low = 2 * model.linear * train["tokens_run"]
        high = 2 * (model.linear + model.output) * train["tokens_run"] + model.per_pair * train["tokens_run"] ** 2
        assert low < r["compute"]["infer_flops"] < high, (low, r["compute"]["infer_flops"], high)
        assert r["compute"]["infer_flops"] != r["learner_info"]["eval"]["flops"]
    assert records[-1]["samples"]["games"] == 2 and records[-1]["samples"]["tokens"] > 0
    assert records[0]["samples"] == {"positions": 0, "episodes": 0, "tasks": 0, "forward_passes": 0, "tokens": 0,
                                     "games": 0}  # every counter from evaluation 0 on
    assert records[0]["episode_kind"] == "games" and records[0]["compute"]["engine_flops"] == 0
    last = records[-1]
    assert last["samples"]["positions"] == last["samples"]["forward_passes"] > 0 and last["compute"]["cpu_s"] > 0
    assert last["learner_info"]["outside_knowledge"] == ["pretrained model"]


@pytest.mark.stockfish
def test_api_key_never_reaches_the_run_directory(server, tmp_path: Path, monkeypatch) -> None:  # noqa: F811
    url, script = server
    monkeypatch.setenv("BENCH_TEST_KEY", KEY)
    cfg = compose_config(["learner=icl", "ladder=quick", "eval=quick", "progress=false", "llm=openai",
                          f"llm.base_url={url}", "llm.api_key_env=BENCH_TEST_KEY", "llm.parameters=1000",
                          "learner.mode=generate", "learner.max_plies=6", "budget.unit=games", "budget.amount=1",
                          "budget.points=[1]", "eval.games=2", "eval.max_plies=8",
                          "eval.allow_uncalibrated_rules=true"])
    run(cfg, run_dir=tmp_path / "run")
    assert script.requests and all(r["headers"]["Authorization"] == f"Bearer {KEY}" for r in script.requests)
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert any(p.name == "metrics.jsonl" for p in files) and any(p.name == TRAIN_PGN for p in files)
    for path in files:
        assert KEY.encode() not in path.read_bytes(), path
    assert "BENCH_TEST_KEY" in (tmp_path / "run" / "config.yaml").read_text()


def test_measured_flops_of_a_generate_call_count_attention_over_the_context(tiny_dir: Path) -> None:
    """A move by generation from an empty cache, counted by hand from the tiny model's shapes: the prompt's forward
    (L tokens, causal attention: L(L+1)/2 query-key pairs, one logit row kept), then one forward per generated token
    (token k attends to L + k keys). Not 2 x N x tokens: attention grows with the context, and the output layer runs
    only where a logit is kept."""
    from bench.learners.icl.player import IclPlayer, PlaySettings, Tally

    lrn = learner(icl_cfg(tiny_dir, "learner.mode=generate", "learner.max_retries=0", "learner.max_answer_tokens=5",
                          "learner.temperature=1.0"))
    model = lrn.backend.model
    c = model.config
    layers, d, vocab, head = c.num_hidden_layers, c.hidden_size, c.vocab_size, c.hidden_size // c.num_attention_heads
    linear = sum(m.weight.numel() for n, m in model.named_modules()
                 if isinstance(m, torch.nn.Linear) and "lm_head" not in n)  # q, k, v, o, gate, up, down
    per_pair = 2 * 2 * c.num_attention_heads * head * layers  # QK^T and PV, 2 FLOPs per multiply-add, every layer
    tally = Tally()
    player = IclPlayer("icl", lrn.backend, lrn.builder, "", PlaySettings(**{**lrn.settings.__dict__}), tally, seed=1)
    lrn.backend.cache.items = []
    player.play(chess.Board())
    t = tally.snapshot()
    prompt, generated = t["tokens_in"], t["tokens_out"]
    assert t["tokens_run"] == prompt + generated and t["calls"] == 1 and generated > 0
    expected = (2 * linear * (prompt + generated) + 2 * d * vocab * (1 + generated)
                + per_pair * (prompt * (prompt + 1) // 2 + sum(prompt + k for k in range(1, generated + 1))))
    assert t["flops"] == expected
    assert t["flops"] != pytest.approx(2 * lrn.backend.parameters * t["tokens_run"], rel=0.1)
    lrn.close()


def test_measured_flops_of_a_scored_move_grow_with_the_history(tiny_dir: Path) -> None:
    """Score mode: the same position after a longer history costs the history's tokens through every layer plus
    their attention: at least ΔT²/2 more query-key pairs (the history's tokens attend to each other)."""
    from bench.learners.icl.player import IclPlayer

    lrn = learner(icl_cfg(tiny_dir))
    model = lrn.backend.model
    c = model.config
    linear = sum(m.weight.numel() for n, m in model.named_modules()
                 if isinstance(m, torch.nn.Linear) and "lm_head" not in n)
    per_pair = 2 * 2 * c.hidden_size * c.num_hidden_layers
    runs = []
    for history in ("", "Game 1: 1. e4 e5 2. Nf3 Nc6 " * 40):
        lrn.backend.cache.items = []
        tally = Tally()
        IclPlayer("icl", lrn.backend, lrn.builder, history, lrn.settings, tally).play(chess.Board())
        runs.append(tally.snapshot())
    extra = runs[1]["tokens_run"] - runs[0]["tokens_run"]
    attention = runs[1]["flops"] - runs[0]["flops"] - 2 * linear * extra
    assert extra > 300 and attention >= per_pair * extra * extra / 2
    lrn.close()

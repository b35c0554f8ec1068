"""Prompt building from the yaml templates, the chat split used for prefix reuse, and context budgeting."""

from __future__ import annotations

import chess
import pytest
from omegaconf import OmegaConf

from bench.errors import BenchError
from bench.learners.icl.backends import SENTINELS, split_chat
from bench.learners.icl.memory import ContextMemory, GameRecord, Mistake
from bench.learners.icl.prompts import Prompt, PromptBuilder, movetext, outcome_for
from tests.icl.conftest import templates


def record(index: int, moves: str = "1. e4 e5", mistakes: tuple[Mistake, ...] = ()) -> GameRecord:
    return GameRecord(index=index, color="White", opponent="random", result="1-0", outcome="win", moves=moves,
                      plies=2, mistakes=mistakes)


def test_current_position_has_moves_fen_colour_and_optional_legal_moves() -> None:
    board = chess.Board()
    for san in ("e4", "e5", "Nf3"):
        board.push_san(san)
    plain = PromptBuilder(templates()).current_text(board)
    assert "1. e4 e5 2. Nf3" in plain and board.fen() in plain and "you are Black" in plain
    assert "Legal moves" not in plain
    legal = PromptBuilder(templates(), show_legal=True).current_text(board)
    assert "Legal moves: " in legal and " Nc6 " in legal and len(legal.split("Legal moves: ")[1].split()) >= 20


def test_movetext_starts_from_the_root_and_outcome_is_from_the_players_side() -> None:
    board = chess.Board()
    assert movetext(board) == ""
    board.push_san("d4")
    assert movetext(board) == "1. d4"
    assert outcome_for("1-0", chess.WHITE) == "win" and outcome_for("1-0", chess.BLACK) == "loss"
    assert outcome_for("1/2-1/2", chess.BLACK) == "draw" and outcome_for("0-1", chess.BLACK) == "win"


def test_history_block_lists_games_with_feedback() -> None:
    builder = PromptBuilder(templates())
    blunder = Mistake(ply=2, move_number="2.", played="Qh5", best="Nf3", drop_cp=850)
    text = builder.history_text([record(1), record(2, "1. e4 e5 2. Qh5", (blunder,))])
    assert text.startswith("Your earlier games:")
    assert "Game 1: you were White against random; result 1-0, a win for you." in text
    assert "2. Qh5 lost 8.5 pawns; better was Nf3" in text
    assert builder.history_text([]) == ""


def test_bad_template_fields_are_one_clear_error() -> None:
    bad = OmegaConf.merge(templates(), {"position": "Moves: {moves} {board}"})
    with pytest.raises(BenchError, match="position.*board"):
        PromptBuilder(bad)


def test_retry_message_names_the_answer_the_reason_and_the_legal_moves() -> None:
    text = PromptBuilder(templates()).retry("Ke2 please", "Ke2 is not legal in this position", chess.Board())
    assert "Ke2 please" in text and "not legal" in text and "Nf3" in text


def test_split_chat_puts_system_and_history_in_the_stable_prefix() -> None:
    def render(messages: list[dict[str, str]]) -> str:
        return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages) + "<assistant>"

    prompt = Prompt("SYS", "HISTORY ", "NOW").with_turns(("assistant", "Ke2"), ("user", "illegal"))
    head, tail = split_chat(render, prompt)
    assert head == "<system>SYS</system><user>HISTORY "
    assert tail == "NOW</user><assistant>Ke2</assistant><user>illegal</user><assistant>"
    assert head + tail == render(prompt.messages())
    assert not any(s in head + tail for s in SENTINELS)


def words(text: str) -> int:
    return len(text.split())


def test_drop_oldest_keeps_the_newest_games_that_fit() -> None:
    memory = ContextMemory(render=lambda r: r.moves, count_tokens=words, budget_tokens=10)
    for i in range(1, 6):
        memory.add(record(i, " ".join(["x"] * 4)))  # 4 tokens each: two fit in 10
    assert [r.index for r in memory.prompt_games()] == [4, 5]
    assert memory.info() == {"games_played": 5, "games_in_context": 2, "history_tokens": 8, "games_dropped": 3}


def test_max_games_caps_the_context() -> None:
    memory = ContextMemory(render=lambda r: r.moves, count_tokens=words, budget_tokens=1000, max_games=3)
    for i in range(1, 6):
        memory.add(record(i))
    assert [r.index for r in memory.prompt_games()] == [3, 4, 5]


def test_keep_instructive_prefers_costly_mistakes_and_keeps_chronological_order() -> None:
    memory = ContextMemory(render=lambda r: r.moves, count_tokens=words, budget_tokens=8, overflow="keep_instructive")
    big = (Mistake(0, "1.", "f3", "e4", 900),)
    small = (Mistake(0, "1.", "a3", "e4", 150),)
    memory.add(record(1, "a b c d", big))
    memory.add(record(2, "a b c d"))
    memory.add(record(3, "a b c d", small))
    memory.add(record(4, "a b c d e f g h i"))  # too long to fit at all
    assert [r.index for r in memory.prompt_games()] == [1, 3]


def test_overflow_choice_is_checked() -> None:
    with pytest.raises(BenchError, match="overflow"):
        ContextMemory(render=str, count_tokens=words, budget_tokens=10, overflow="random")


def test_memory_state_round_trip() -> None:
    memory = ContextMemory(render=lambda r: r.moves, count_tokens=words, budget_tokens=100)
    memory.add(record(1, "1. e4", (Mistake(0, "1.", "e4", "d4", 120),)))
    memory.add(record(2))
    again = ContextMemory(render=lambda r: r.moves, count_tokens=words, budget_tokens=100)
    again.load_state_dict(memory.state_dict())
    assert again.prompt_games() == memory.prompt_games()
    assert again.info() == memory.info()


def test_check_marks_false_writes_every_move_without_plus_or_hash() -> None:
    from bench.learners.rlvr_llm.policy import candidates

    board = chess.Board("6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - 0 1")  # Ra8# mates
    board.push_san("Kf1")
    board.push_san("h6")
    board.push_san("Ra8+")
    board.push_san("Kh7")  # the game so far holds a check
    marked = PromptBuilder(templates(), show_legal=True)
    plain = PromptBuilder(OmegaConf.merge(templates(), {"check_marks": False}), show_legal=True)
    assert "Ra8+" in marked.current_text(board) and "+" not in plain.current_text(board).split("FEN")[0]
    mate = chess.Board("6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - 0 1")
    assert "Ra8#" in marked.legal_sans(mate) and "Ra8" in plain.legal_sans(mate)
    legal, answers = candidates(plain, mate)
    assert len(answers) == len(legal) and not any(a.rstrip().endswith(("#", "+")) for a in answers)
    assert any(a.endswith("#") for a in candidates(marked, mate)[1])
    blunder = Mistake(ply=2, move_number="2.", played="Qxf7+", best="Nf3", drop_cp=850)
    text = plain.history_text([record(1, "1. e4 e5 2. Qxf7+ Ke7", (blunder,))])
    assert "+" not in text and "2. Qxf7 Ke7" in text


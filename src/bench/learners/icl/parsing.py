"""Reading a move out of a language model's answer: SAN or UCI, with check marks, annotations and chatter.

The first token of the answer that is a legal move wins. When none is, the reason names the first token that
looked like a move (illegal or ambiguous there) or says that no move was found; the reason is sent back to the
model when it is asked again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import chess

UCI_RE = re.compile(r"^([a-h][1-8])[-x]?([a-h][1-8])=?([qrbnQRBN])?$")
SAN_LIKE_RE = re.compile(r"^(?:[KQRBN]?[a-h]?[1-8]?x?[a-h][1-8](?:=?[QRBNqrbn])?|O-O(?:-O)?)$")
TOKEN_RE = re.compile(r"[A-Za-z0-9=\-]+")
CASTLES = {"0-0": "O-O", "0-0-0": "O-O-O", "o-o": "O-O", "o-o-o": "O-O-O"}


@dataclass(frozen=True)
class ParsedMove:
    """The outcome of reading one answer."""

    move: chess.Move | None
    """The legal move found, or None."""
    reason: str = ""
    """Why no move was taken (empty when `move` is set)."""
    token: str = ""
    """The part of the answer that was read as the move (or looked most like one)."""


def _candidates(text: str) -> list[str]:
    """Move-shaped tokens in reading order: move numbers, dots, check marks and annotations stripped."""
    # "12." and "12..." are move numbers, but the "3." of "Nf3." ends a sentence
    cleaned = re.sub(r"(?<![A-Za-z\d])\d+\s*\.(\.\.)?", " ", text.replace("…", " "))
    tokens = []
    for raw in TOKEN_RE.findall(cleaned):
        token = raw.strip("-")
        token = CASTLES.get(token.lower(), token) if token.lower() in CASTLES else token
        if token:
            tokens.append(token)
    return tokens


def _uci(token: str, board: chess.Board) -> chess.Move | None:
    match = UCI_RE.match(token)
    if not match:
        return None
    promo = (match.group(3) or "").lower()
    move = chess.Move.from_uci(match.group(1) + match.group(2) + promo)
    if not promo and board.piece_type_at(move.from_square) == chess.PAWN and chess.square_rank(move.to_square) in (0, 7):
        move = chess.Move(move.from_square, move.to_square, promotion=chess.QUEEN)  # "e7e8" means a queen
    return move


def _san(token: str, board: chess.Board) -> tuple[chess.Move | None, str]:
    """A legal move for a SAN token, or None and why ('' when the token is not SAN-shaped at all)."""
    variants = [token]
    if token[:1] in "nrqk" and len(token) > 1:  # "nf3": lower-case piece letter ("b" stays a pawn file first)
        variants.append(token[0].upper() + token[1:])
    if token[:1] == "b" and len(token) > 2:
        variants.append("B" + token[1:])
    reason = ""
    for variant in variants:
        if not SAN_LIKE_RE.match(variant):
            continue
        try:
            return board.parse_san(variant), ""
        except chess.AmbiguousMoveError:
            reason = reason or f"{variant} is ambiguous here (name the piece's file or rank)"
        except (chess.IllegalMoveError, chess.InvalidMoveError, ValueError):
            reason = reason or f"{variant} is not legal in this position"
    return None, reason


def parse_move(text: str, board: chess.Board) -> ParsedMove:
    """The first legal move written in `text` (SAN or UCI) for the side to move in `board`."""
    if not text or not text.strip():
        return ParsedMove(None, "the answer was empty")
    first_reason, first_token = "", ""
    for token in _candidates(text):
        move = _uci(token, board)
        if move is not None:
            if move in board.legal_moves:
                return ParsedMove(move, "", token)
            first_reason, first_token = first_reason or f"{token} is not legal in this position", first_token or token
            continue
        move, reason = _san(token, board)
        if move is not None:
            return ParsedMove(move, "", token)
        if reason and not first_reason:
            first_reason, first_token = reason, token
    if first_reason:
        return ParsedMove(None, first_reason, first_token)
    return ParsedMove(None, "no move found in the answer (write one move in SAN, e.g. Nf3)")


__all__ = ["ParsedMove", "parse_move"]

"""Known-answer tests of the board planes and the 4,672-move index."""

from __future__ import annotations

import random

import chess
import numpy as np
import pytest
import torch

from bench.encoding import (
    COMPACT_WORDS,
    NUM_MOVES,
    NUM_PLANES,
    compact_board,
    encode_board,
    encode_boards,
    expand_compact,
    index_to_move,
    legal_mask,
    legal_move_indices,
    move_to_index,
    repetition_count,
)
from bench.network import PolicyValueNet, forward_flops_per_position, masked_softmax, value_to_scalar

SPECIAL_FENS = [
    "r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1",  # castling both sides, both colours
    "r3k2r/8/8/8/8/8/8/R3K2R b KQkq - 0 1",
    "8/1P4k1/8/8/8/8/6p1/K7 w - - 0 1",  # promotions (and underpromotions) for White ...
    "8/1P4k1/8/8/8/8/6p1/K7 b - - 0 1",  # ... and for Black
    "1n4k1/P7/8/8/8/8/7p/K5N1 w - - 0 1",  # promotion by capture both ways
    "1n4k1/P7/8/8/8/8/7p/K5N1 b - - 0 1",
    "rnbqkbnr/ppp1p1pp/8/3pPp2/8/8/PPPP1PPP/RNBQKBNR w KQkq f6 0 3",  # en passant, White
    "rnbqkbnr/pppp1ppp/8/8/3PpP2/8/PPP1P1PP/RNBQKBNR b KQkq d3 0 3",  # en passant, Black
]


def random_positions(count: int, seed: int) -> list[chess.Board]:
    rng = random.Random(seed)
    boards = [chess.Board(fen) for fen in SPECIAL_FENS]
    while len(boards) < count:
        board = chess.Board()
        for _ in range(rng.randrange(0, 160)):
            moves = list(board.legal_moves)
            if not moves:
                break
            board.push(rng.choice(moves))
        boards.append(board)
    return boards


def test_move_index_round_trips_every_legal_move_without_collisions() -> None:
    kinds = {"promotion": 0, "underpromotion": 0, "castling": 0, "en_passant": 0, "black": 0}
    for board in random_positions(300, seed=1):
        indices = [move_to_index(m, board.turn) for m in board.legal_moves]
        assert len(set(indices)) == len(indices), board.fen()
        assert all(0 <= i < NUM_MOVES for i in indices)
        for move, index in zip(board.legal_moves, indices):
            assert index_to_move(index, board) == move, (board.fen(), move)
            kinds["promotion"] += move.promotion == chess.QUEEN
            kinds["underpromotion"] += move.promotion not in (None, chess.QUEEN)
            kinds["castling"] += board.is_castling(move)
            kinds["en_passant"] += board.is_en_passant(move)
            kinds["black"] += board.turn == chess.BLACK
        assert sorted(legal_move_indices(board).tolist()) == sorted(indices)
        mask = legal_mask(board)
        assert mask.sum() == len(indices) and mask[indices].all()
    assert all(v > 0 for v in kinds.values()), kinds


def test_black_moves_are_mirrored() -> None:
    white = chess.Board()
    black = chess.Board()
    black.push_san("e4")
    assert move_to_index(chess.Move.from_uci("e2e4"), chess.WHITE) == move_to_index(
        chess.Move.from_uci("e7e5"), chess.BLACK
    )
    assert legal_mask(white).sum() == legal_mask(black).sum() == 20
    # the opening position looks identical to both sides, except for the colour plane
    a, b = encode_board(white), encode_board(chess.Board(chess.Board().fen().replace(" w ", " b ")))
    assert np.array_equal(np.delete(a, 14, axis=0), np.delete(b, 14, axis=0))
    assert a[14].sum() == 0 and b[14].sum() == 64


def test_planes_know_the_position() -> None:
    board = chess.Board("r3k2r/8/8/8/4P3/8/8/R3K3 b Qkq e3 0 7")
    planes = encode_board(board)
    assert planes.shape == (NUM_PLANES, 8, 8) and planes.dtype == np.float32
    # Black to move: its king (e8) is seen on the mover's first rank at e1 after the vertical flip
    assert planes[5, 0, 4] == 1 and planes[5].sum() == 1
    assert planes[6, 4, 4] == 1  # White's e4 pawn, flipped to e5 in the mover's view: rank index 4
    assert planes[11, 7, 4] == 1  # White's king e1 -> e8 in the mover's view
    assert planes[15].all() and planes[16].all()  # Black may castle both ways
    assert not planes[17].any() and planes[18].all()  # White only queenside
    assert not planes[20].any()  # e3 is not capturable en passant: no plane
    assert planes[19, 0, 0] == 0.0


def test_repetitions_and_no_progress() -> None:
    board = chess.Board()
    for san in ["Nf3", "Nf6", "Ng1", "Ng8", "Nf3", "Nf6", "Ng1", "Ng8"]:
        board.push_san(san)
    assert repetition_count(board) == 2
    planes = encode_board(board)
    assert planes[12].all() and planes[13].all()
    assert planes[19, 3, 3] == pytest.approx(0.08)
    board.pop()
    assert repetition_count(board) == 1


def test_compact_form_is_small_and_lossless() -> None:
    boards = random_positions(64, seed=2)
    rows = np.stack([compact_board(b) for b in boards])
    assert rows.shape == (64, COMPACT_WORDS) and rows.dtype == np.uint64 and rows[0].nbytes == 112
    assert np.array_equal(expand_compact(rows), encode_boards(boards))


def test_network_shapes_masking_and_flops() -> None:
    torch.manual_seed(0)
    net = PolicyValueNet(blocks=1, channels=8, value_head="wdl").eval()
    boards = random_positions(12, seed=3)[-4:]
    planes = torch.from_numpy(encode_boards(boards))
    logits, value = net(planes)
    assert logits.shape == (4, NUM_MOVES) and value.shape == (4, 3)
    scores = value_to_scalar(value, "wdl")
    assert ((scores >= -1) & (scores <= 1)).all()
    mask = torch.from_numpy(np.stack([legal_mask(b) for b in boards]))
    probs = masked_softmax(logits, mask)
    assert torch.allclose(probs.sum(-1), torch.ones(4)) and (probs[~mask] == 0).all()
    scalar = PolicyValueNet(blocks=1, channels=8, value_head="scalar").eval()
    assert scalar(planes)[1].shape == (4,)
    pooled = PolicyValueNet(blocks=1, channels=8, value_head="wdl", value_pool=True).eval()
    assert pooled(planes)[1].shape == (4, 3) and pooled.config()["value_pool"] is True
    rebuilt = PolicyValueNet(**pooled.config())
    rebuilt.load_state_dict(pooled.state_dict())  # the config rebuilds the same architecture
    # the pooled head reads square means, not 128 square-tied inputs: far fewer weights to memorise games with
    assert sum(p.numel() for p in pooled.value_fc.parameters()) < sum(p.numel() for p in net.value_fc.parameters())
    flops = forward_flops_per_position(net, batch=4)
    # the tower alone: 2 convs/block + stem, each 2 * 9 * C_in * C_out * 64 multiply-adds, so at least that
    assert flops > 2 * 9 * 8 * 8 * 64 * 2


def test_fast_legal_moves_match_python_chess() -> None:
    from bench.encoding import legal_moves

    pinned = "4k3/8/8/8/1b6/8/3N4/4K3 w - - 0 1"  # the d2 knight is pinned: none of its moves is legal
    boards = random_positions(400, seed=4) + [chess.Board(pinned)]
    for board in boards:
        assert sorted(m.uci() for m in legal_moves(board)) == sorted(m.uci() for m in board.legal_moves), board.fen()
    assert not any(m.from_square == chess.D2 for m in legal_moves(chess.Board(pinned)))

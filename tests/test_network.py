"""The attention policy head: its logits are the from-square query times the to-square key, gathered into the
4,672-move index, plus a per-piece term for underpromotions; it rebuilds from its config."""

from __future__ import annotations

import chess
import pytest
import torch

from bench.encoding import encode_board, move_squares, move_to_index
from bench.network import PolicyValueNet, masked_softmax


def _net() -> PolicyValueNet:
    torch.manual_seed(0)
    return PolicyValueNet(blocks=1, channels=8, value_pool=True, policy_head="attention", policy_dim=4).eval()


def _queries_keys(net: PolicyValueNet, planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    features = net.tower(net.stem(planes))
    x = torch.cat([features, planes], dim=1).flatten(2).transpose(1, 2)
    return net.policy.query(x), net.policy.key(x)


@pytest.mark.parametrize("fen, uci", [
    (chess.STARTING_FEN, "g1f3"),                                    # knight move
    ("4k3/8/8/8/8/8/8/R3K3 w Q - 0 1", "a1a8"),                     # the longest rook move
    ("r3k3/8/8/8/8/8/8/4K3 b q - 0 1", "e8c8"),                     # Black castles: mirrored squares
    ("4k3/1P6/8/8/8/8/8/4K3 w - - 0 1", "b7b8q"),                    # queen promotion: a plain move
    ("4k3/1P6/8/8/8/8/8/4K3 w - - 0 1", "b7b8n"),                    # underpromotion: plus the knight term
])
def test_a_moves_logit_is_its_from_query_dot_its_to_key(fen: str, uci: str) -> None:
    net, board = _net(), chess.Board(fen)
    planes = torch.from_numpy(encode_board(board)).unsqueeze(0)
    move = chess.Move.from_uci(uci)
    index = move_to_index(move, board.turn)
    frm, to = (move.from_square ^ 56, move.to_square ^ 56) if board.turn == chess.BLACK else (move.from_square, move.to_square)
    with torch.no_grad():
        logits = net(planes)[0][0]
        q, k = _queries_keys(net, planes)
        expected = float(q[0, frm] @ k[0, to]) / 2.0  # sqrt(policy_dim = 4)
        if move.promotion in (chess.KNIGHT, chess.BISHOP, chess.ROOK):
            expected += float(net.policy.underpromotion(q[0, frm])[move.promotion - 2])
    assert float(logits[index]) == pytest.approx(expected, abs=1e-5)


def test_move_squares_cover_the_index_and_mark_only_underpromotions() -> None:
    frm, to, column = move_squares()
    assert frm.shape == to.shape == column.shape == (4672,)
    assert (column > 0).sum() == 3 * 3 * 8 - 3 * 2  # 3 pieces x 3 directions x 8 files, less the 6 off-board
    assert ((frm >= 0) & (frm < 64) & (to >= 0) & (to < 64)).all()


def test_attention_net_rebuilds_from_config_and_masks_illegal_moves() -> None:
    net = _net()
    rebuilt = PolicyValueNet(**net.config())
    rebuilt.load_state_dict(net.state_dict())
    board = chess.Board()
    planes = torch.from_numpy(encode_board(board)).unsqueeze(0)
    mask = torch.zeros(1, 4672, dtype=torch.bool)
    legal = [move_to_index(m, board.turn) for m in board.legal_moves]
    mask[0, legal] = True
    with torch.no_grad():
        probs = masked_softmax(rebuilt.eval()(planes)[0], mask)
        assert torch.equal(net(planes)[0], rebuilt(planes)[0])
    assert float(probs[0, legal].sum()) == pytest.approx(1.0) and float(probs[0].sum()) == pytest.approx(1.0)
    assert PolicyValueNet(1, 8).config().get("policy_head") is None  # conv checkpoints keep their old config


def test_unknown_policy_head_is_refused() -> None:
    with pytest.raises(ValueError, match="policy_head"):
        PolicyValueNet(1, 8, policy_head="transformer")

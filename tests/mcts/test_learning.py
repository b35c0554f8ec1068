"""Learning on a tiny budget: from random weights and a fixed seed, self-play + training must teach the value head
material, and the agent (network + an 8-simulation search) must not score worse against the random mover.

Why the margin is not luck (the seeds make the test deterministic; the margin says the effect is real): the
value's correlation with the sign of the mover's material on 600 fixed positions of random play. The untrained
net's is about 0 (-0.08 measured); a correlation over 600 positions has a standard error of about
1 / sqrt(600) = 0.04, and the test asks for 0.15 or more, over three of them above zero (measured: 0.30).
Nothing but learning from the material-adjudicated outcomes of self-play can produce it.

Playing strength, measured but NOT yet clearly better (so only "not worse" is asserted): 200 seeded games
against the random mover (colours alternating, 60-ply cap, material adjudication), the same opponents before
and after: untrained 0.575, trained 0.625. A score's standard error is at most 0.5 / sqrt(200) = 0.035, so
+0.05 is about one standard error of the difference -- not yet the issue's "clearly better" (which would need
about +0.1). Before the pooled value head the same check went 0.45 -> 0.24..0.50.

Those figures are from visit-count policy targets. The test now trains with the embedded default's choices
(completed-Q targets, self-play from random start positions; see benchmarks/mcts_policy_target.py) and passes
(2026-11-30, 15.5 min niced beside other jobs). Run it with `-s` to print its figures; they were not recorded
for this config.

What was wrong before: the flattened value head (128 inputs tied to squares) fit the few hundred self-play
games it saw rather than material (train loss 0.19, held-out 4.2 on the same replay, probe 0.03; see
benchmarks/mcts_value_fit.py), the more so at sample_reuse 8. The pooled head (bench.network, value_pool) and
a reuse of 2 generalise. Costs about 200 s of one idle core (300 improves, 38,400 self-play positions).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from bench.compute import ComputeMeter
from bench.encoding import encode_boards
from bench.learners import LearnerContext
from bench.learners.mcts import MctsLearner, player_from_state
from bench.learners.mcts.arena import material_correlation, random_positions, score_vs_random

GAMES = 200
SIMS = 8
IMPROVES = 300
CONFIG = dict(
    in_process=True, blocks=1, channels=16, value_pool=True, simulations=16, full_search_prob=1.0,
    games_per_worker=32, moves_per_improve=4, max_plies=40, material_margin=1, search_sees_cap=False,
    min_replay=1024, batch_size=128, sample_reuse=2.0, lr=0.003, value_loss_weight=1.0,
    policy_target="completed_q", completed_q_scale=0.1, start_random_plies=80,
)


@pytest.mark.slow
def test_self_play_teaches_material_and_beats_the_untrained_net() -> None:
    torch.set_num_threads(1)
    boards, signs = random_positions(600, seed=1)
    planes = torch.from_numpy(encode_boards(boards))
    ctx = LearnerContext(meter=ComputeMeter(), seed=0, runtime=SimpleNamespace(kind="local", device="cpu", workers=1),
                         stockfish=None)
    learner = MctsLearner(CONFIG, ctx)
    corr_before = material_correlation(learner.net, planes, signs)
    untrained = score_vs_random(player_from_state(learner.state_dict(), simulations=SIMS), GAMES, seed=3, max_plies=60)
    for _ in range(IMPROVES):
        learner.improve()
    corr_after = material_correlation(learner.net, planes, signs)
    trained = score_vs_random(player_from_state(learner.state_dict(), simulations=SIMS), GAMES, seed=3, max_plies=60)
    info = learner.eval_info()
    learner.close()
    print(f"material correlation {corr_before:.3f} -> {corr_after:.3f}; score vs random {untrained:.3f} -> {trained:.3f}")
    assert abs(corr_before) < 0.1, corr_before
    assert corr_after >= 0.15, (corr_before, corr_after, info)
    assert trained >= untrained, (untrained, trained, corr_after, info)

"""Learning on a tiny budget: from random weights and a fixed seed, self-play + training must make the raw
network (one simulation, i.e. the policy's top move) score clearly better against the random mover.

Why the margin is not luck: both players are scored on the same 40 seeded games against the random mover
(colours alternating, 60-ply cap, material adjudication). A score is a mean of 40 results in {0, 0.5, 1};
its standard error is at most 0.5 / sqrt(40) = 0.079, so the standard error of the difference of two
independent scores is at most 0.11 and a required gain of 0.25 is more than two of them, while the seed
makes the test deterministic. Judged with one simulation, the untrained net plays about as the random
mover (score near 0.5); what it gains is learned: captures and keeping material, taught by the material-
adjudicated outcomes of its self-play.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from bench.compute import ComputeMeter
from bench.learners import LearnerContext
from bench.learners.mcts import MctsLearner, player_from_state
from bench.learners.mcts.arena import score_vs_random

GAMES = 40


@pytest.mark.slow
def test_self_play_beats_the_untrained_net_against_the_random_mover() -> None:
    torch.set_num_threads(1)
    ctx = LearnerContext(meter=ComputeMeter(), seed=0, runtime=SimpleNamespace(kind="local", device="cpu", workers=1),
                         stockfish=None)
    cfg = dict(
        in_process=True, blocks=1, channels=16, simulations=16, fast_simulations=4, full_search_prob=0.5,
        games_per_worker=32, moves_per_improve=4, max_plies=40, min_replay=256, batch_size=128,
        sample_reuse=6.0, lr=0.003,
    )
    learner = MctsLearner(cfg, ctx)
    untrained = score_vs_random(player_from_state(learner.state_dict(), simulations=1), GAMES, seed=3, max_plies=60)
    for _ in range(60):
        learner.improve()
    trained = score_vs_random(player_from_state(learner.state_dict(), simulations=1), GAMES, seed=3, max_plies=60)
    learner.close()
    assert trained >= untrained + 0.25, (untrained, trained, learner.eval_info())

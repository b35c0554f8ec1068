"""The mcts learner: AlphaZero-style self-play with batched PUCT search.

Modules, in the order data flows:
  search.py     SearchNode, Evaluator protocol, BatchedSearch (lockstep roots + virtual loss), solver
  evaluator.py  the network as an Evaluator, FLOPs measured per batch shape
  selfplay.py   lockstep self-play games, playout-cap randomisation, adjudication, resignation
  replay.py     the compact replay buffer
  train.py      loss and training step
  workers.py    the self-play worker and its pools (in process, local processes, Ray actors)
  player.py     network + search as a Player for evaluation
  learner.py    MctsLearner: improve / make_player / state_dict
  arena.py      a tiny match loop against the random mover (learning checks without the harness)
"""

from bench.learners.mcts.learner import MctsLearner, player_from_state

__all__ = ["MctsLearner", "player_from_state"]

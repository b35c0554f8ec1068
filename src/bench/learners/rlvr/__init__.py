"""The rlvr learner: GRPO from verifiable rewards with an autocurriculum of chess tasks (issue 4).

Modules, in the order a step uses them: `curriculum` (task pool and generators) <- `sources` (start positions)
and `tasks` (the task type, EPD/FEN files); `rollouts` (lockstep rollouts vs ladder rungs); `verifiers` (rewards);
`grpo` (advantages and the clipped objective); `learner` (the step, top to bottom); `player` (evaluation).
"""

from bench.learners.rlvr.learner import RlvrLearner

__all__ = ["RlvrLearner"]

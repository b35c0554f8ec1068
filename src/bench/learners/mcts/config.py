"""The mcts learner's config schema (light: no torch at import). Extended by conf/learner/mcts.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from bench.config import LearnerConfig, NetworkConfig


@dataclass
class MctsConfig(NetworkConfig, LearnerConfig):
    """The network fields (blocks, channels, policy and value heads) are `NetworkConfig`'s, at this config's top
    level, with its defaults."""

    name: str = "mcts"
    # --- search
    simulations: int = 32
    """Simulations of a full self-play search (the ones recorded as training targets)."""
    fast_simulations: int = 8
    """Simulations of a fast search under playout-cap randomisation (KataGo, Wu 2019, sec. 3.1); not recorded."""
    full_search_prob: float = 0.25
    """Probability that a self-play move gets a full search; 1.0 turns playout-cap randomisation off."""
    eval_simulations: int = 64
    """Simulations per move of the evaluation player (the test-time compute axis, logged with every record)."""
    eval_leaves_per_step: int = 8
    """Leaves the evaluation player batches per forward, kept apart by virtual loss."""
    c_puct: float = 1.5
    """Exploration constant of PUCT."""
    fpu: float = 0.0
    """Value assumed for unvisited moves (from the chooser's view)."""
    fpu_reduction: Optional[float] = None
    """When set, unvisited moves are valued at the parent's mean value minus this instead of `fpu` (Lc0's FPU
    reduction), so a winning side explores before settling for a draw its prior likes."""
    scan: str = "none"
    """Where self-play's search looks for mates in one before any visit: `none`, `root` (every child of the root,
    so stalemates and repetitions one move away are known too) or `tree` (the root so, and every other node's
    checking moves); see bench.learners.mcts.search.scan."""
    eval_scan: Optional[str] = None
    """The same for the evaluation player (None: as `scan`)."""
    root_width: bool = False
    """Every root move is tried once (one batched forward of all the root's children) before the PUCT simulations,
    in self-play and at evaluation; see bench.learners.mcts.search.SearchConfig.root_width. The move is then the
    argmax of the completed-Q policy at `choice_q_scale` (sampled from it in self-play's temperature plies), not the
    most visited one."""
    choice_q_scale: float = 1.0
    """c_scale of the completed-Q policy that picks the move after a `root_width` search (Gumbel MuZero's 1.0: the
    values found decide against the prior; the policy target keeps `completed_q_scale`)."""
    contempt: float = 0.0
    """Self-play's draw score: a draw by the rules reached in the search tree is worth -contempt to the side
    searching (Lc0's DrawScore; 0 is AlphaZero's). Only the search sees it: the value target of a drawn game is 0."""
    eval_contempt: Optional[float] = None
    """The same for the evaluation player (None: as `contempt`)."""
    dirichlet_alpha: float = 0.3
    """Dirichlet noise concentration at the self-play root (AlphaZero chess: 0.3)."""
    dirichlet_eps: float = 0.25
    """Weight of the Dirichlet noise in the root priors (AlphaZero: 0.25)."""
    temperature_plies: int = 16
    """Self-play moves are sampled from visit counts (T = 1) for this many plies, then the best is played."""
    # --- self-play games
    games_per_worker: int = 32
    """Self-play games each worker steps in lockstep (its search batch size)."""
    moves_per_improve: int = 4
    """Plies every game advances in one `improve()` call."""
    start_random_plies: int = 0
    """Self-play games start after 0..this many uniformly random moves (0: from the initial position)."""
    start_endgame_prob: float = 0.0
    """Probability that a self-play game starts from a random endgame instead (kings plus up to
    `endgame_max_pieces` pieces a side; see selfplay.random_endgame): games that end in mate within minutes."""
    endgame_max_pieces: int = 4
    """Most pieces (besides the king) a side gets in a random endgame start."""
    max_plies: int = 80
    """Ply cap of a self-play game, then adjudication."""
    adjudication: str = "material"
    """At the ply cap: `material` (the side ahead by `material_margin` pawns wins, else a draw) or `draw`."""
    material_margin: int = 3
    """Material lead (P=1, N=B=3, R=5, Q=9) that wins a capped game under material adjudication."""
    shuffle_draws: str = "draw"
    """How a self-play game drawn by threefold repetition or the fifty-move rule is scored in its value targets:
    `draw` (0, the rules of chess) or `material` (shaping, as at the cap: the side ahead by `material_margin` wins),
    so a side that shuffles while ahead still teaches the value head that the lead was worth something."""
    search_sees_cap: bool = True
    """Self-play searches treat positions at the ply cap as terminal with their adjudicated value (the rules of
    the capped self-play game), so search values near the cap are exact rather than the net's guess."""
    resign_threshold: float = -0.95
    """A side resigns when its root value stays below this for `resign_plies` of its moves ..."""
    resign_plies: int = 3
    """... consecutively."""
    resign_enabled: bool = False
    """Resignation on/off."""
    resign_check_fraction: float = 0.1
    """Fraction of games played out despite a resign signal, to measure the resign false-positive rate."""
    # --- training
    policy_target: str = "visits"
    """`visits` (AlphaZero: root visit counts) or `completed_q` (Gumbel MuZero's softmax(log prior + sigma(Q)),
    which improves the policy even with few simulations per move)."""
    completed_q_visit: float = 50.0
    """c_visit of the completed-Q transform (Danihelka et al. 2022)."""
    completed_q_scale: float = 1.0
    """c_scale of the completed-Q transform: larger trusts the search values more against the prior."""
    replay_capacity: int = 100_000
    """Positions kept in the replay buffer (oldest dropped first)."""
    policy_top_k: int = 64
    """Most visited moves stored per position as the policy target."""
    min_replay: int = 512
    """Positions needed before training starts."""
    batch_size: int = 256
    """Training batch size."""
    sample_reuse: float = 4.0
    """Training samples drawn per new self-play position (the training ratio)."""
    lr: float = 0.002
    """AdamW learning rate."""
    weight_decay: float = 0.0001
    """AdamW weight decay (the L2 term of AlphaZero's loss)."""
    value_loss_weight: float = 1.0
    """Weight of the value loss next to the policy cross-entropy."""
    value_target_q_weight: float = 0.0
    """Value target = (1 - w) * game outcome + w * root search value (0: the outcome only, as AlphaZero)."""
    # --- runtime
    in_process: bool = False
    """Run self-play in the main process instead of workers (debugging, tests)."""
    pipeline: bool = True
    """Workers play the next plies while the trainer learns from the last ones (weights one improve() old)."""
    worker_torch_threads: int = 1
    """torch threads per self-play worker."""

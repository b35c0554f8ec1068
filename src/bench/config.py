"""Typed config schemas, registered in Hydra's ConfigStore and extended by the yaml files under `conf/`.

Each field is documented where it is declared. The learners' own schemas live beside each learner
(`bench/learners/<name>/config.py`) and are registered here through `LEARNER_SCHEMAS`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

def find_conf_dir() -> Path:
    """The `conf/` folder, found from the package, never from the working directory: $BENCH_CONF_DIR if set, else
    the source tree's `conf/` (an editable install, `src/bench/` beside `conf/`), else the copy installed inside the
    package (`bench/conf`, shipped in the wheel by setup.py)."""
    if os.environ.get("BENCH_CONF_DIR"):
        return Path(os.environ["BENCH_CONF_DIR"])
    here = Path(__file__).resolve().parent
    source = here.parents[1] / "conf"
    if here.parent.name == "src" and (source / "config.yaml").is_file():
        return source
    return here / "conf"


CONF_DIR = find_conf_dir()
"""The `conf/` folder (see `find_conf_dir`)."""


@dataclass
class StockfishConfig:
    path: Optional[str] = None
    """Binary to run; None finds `stockfish` on PATH, then Debian's /usr/games/stockfish."""
    threads: int = 1
    """Search threads per engine process (1 keeps node-limited games deterministic)."""
    hash_mb: int = 16
    """Transposition table per engine process, MiB."""
    move_timeout: float = 30.0
    """Seconds without an answer after which an engine counts as hung and is restarted."""


@dataclass
class RungConfig:
    name: str = MISSING
    """Unique rung name, used in PGN headers and the calibration file."""
    kind: str = "stockfish"
    """`random` (uniform legal moves) or `stockfish`."""
    nodes: Optional[int] = None
    """Nodes per move (preferred: independent of the machine's speed)."""
    depth: Optional[int] = None
    """Depth per move."""
    movetime: Optional[float] = None
    """Seconds per move (machine-dependent; the harness warns when it differs from the calibration's)."""
    skill_level: Optional[int] = None
    """Stockfish `Skill Level`; its range is read from the engine."""
    uci_elo: Optional[int] = None
    """Stockfish `UCI_Elo` with `UCI_LimitStrength`; its range is read from the engine."""
    epsilon: float = 0.0
    """Probability of a uniformly random legal move instead of the engine's: fills the range below UCI_Elo's floor."""


@dataclass
class LadderConfig:
    name: str = MISSING
    """Ladder name; its calibration file is `conf/ladder/<calibration>`."""
    calibration: str = MISSING
    """Calibration file written by `python -m bench.calibrate ladder=<name>`, relative to conf/ladder/."""
    calibrations: dict[str, str] = field(default_factory=dict)
    """Calibration files for other rule sets, by `eval.rules` name (e.g. `short`); `calibration` serves the rest."""
    anchor: str = MISSING
    """Rung whose rating is fixed at its nominal UCI_Elo in the joint fit."""
    anchor_elo: float = MISSING
    """Rating given to the anchor rung."""
    games_per_pair: int = 40
    """Calibration games per pair of adjacent rungs, half with each colour."""
    games_per_next_pair: Optional[int] = None
    """Calibration games per pair of rungs two steps apart; None plays `games_per_pair`."""
    rungs: list[RungConfig] = field(default_factory=list)
    """Rungs from weakest to strongest; adjacent rungs should be about 150-300 Elo apart."""


@dataclass
class AdjudicationConfig:
    enabled: bool = False
    """Adjudicate by an engine's evaluation, as engine testers do; the rules go in each PGN's headers."""
    nodes: int = 1000
    """Nodes the adjudicating Stockfish searches per position."""
    win_cp: int = 700
    """A side wins when the adjudicator's score stays beyond this many centipawns for it ..."""
    win_plies: int = 8
    """... for this many consecutive plies."""
    draw_cp: int = 15
    """A draw when |score| stays within this many centipawns ..."""
    draw_plies: int = 20
    """... for this many consecutive plies ..."""
    draw_min_ply: int = 120
    """... once the game is at least this many plies long."""
    at_ply_cap: str = "draw"
    """At the ply cap: `engine` (a win if |score| > win_cp, else a draw) or `draw`."""


@dataclass
class EvalConfig:
    rules: str = "mate"
    """Name of the rule set `max_plies` and `adjudication` make up (`mate`: played to mate, draws by the rules of
    chess, the cap a draw; `adjudicated`: engine-score adjudication). Written into every PGN, metrics record and
    report; the ladder's calibration must have been made under the same rules (see `allow_uncalibrated_rules`)."""
    allow_uncalibrated_rules: bool = False
    """Evaluate even when the ladder was calibrated under other rules (its ratings then do not fit the games:
    a named, logged exception, never the default)."""
    games: int = 40
    """Games of an evaluation's first rounds (an even number: every opening is played with both colours); all its
    games when `target_halfwidth` is None."""
    target_halfwidth: Optional[float] = None
    """Keep playing rounds (of games/rounds games) until the 95% interval given the ladder (`elo_ci_games`, game
    noise only) has at most this half-width in Elo, or `max_games` are played; None stops after `games`."""
    max_games: int = 0
    """Cap on an evaluation's games when `target_halfwidth` is set (0: `games`, i.e. no extra rounds)."""
    rungs: int = 3
    """How many rungs bracketing the current estimate are played at each evaluation."""
    rounds: int = 2
    """The games are split into rounds; the bracket is re-chosen from the estimate after each round."""
    concurrency: int = 0
    """Games played at once (one engine process per concurrent game); 0 means the machine's cores."""
    openings: str = "default"
    """Opening suite `conf/openings/<name>.txt`: one line of SAN moves per opening."""
    max_plies: int = 400
    """Ply cap per game; what happens there is `adjudication.at_ply_cap` (a draw when adjudication is off)."""
    adjudication: AdjudicationConfig = field(default_factory=AdjudicationConfig)
    include_calibration_error: bool = True
    """Widen each interval by the rungs' calibration uncertainty (added in quadrature)."""


@dataclass
class BudgetConfig:
    unit: str = "wall_s"
    """What the budget counts: train_flops, total_flops, wall_s, games, positions, rollouts, tasks, tokens, simulations."""
    amount: float = 60.0
    """How much of `unit` the learner may spend."""
    evals: int = 4
    """Evaluations at log-spaced points of the budget (the last at the end), plus one before learning."""
    first: float = 0.1
    """The first log-spaced point, as a fraction of `amount`."""
    points: Optional[list[float]] = None
    """Explicit evaluation points in `unit` (overrides evals/first), e.g. history sizes for icl."""
    eval_at_start: bool = True
    """Also evaluate the untrained learner before any learning."""


@dataclass
class RuntimeConfig:
    kind: str = "local"
    """`local` (processes on this machine) or `ray` (Ray actors; `pip install .[ray]`)."""
    device: str = "cpu"
    """Torch device for networks: cpu or cuda."""
    workers: int = 0
    """Self-play / rollout workers; 0 means the machine's cores."""
    torch_threads: int = 0
    """torch.set_num_threads for the main process; 0 leaves torch's default."""
    ray_address: Optional[str] = None
    """Address of an existing Ray cluster; None starts a local one."""


@dataclass
class TrackerConfig:
    kind: str = "none"
    """`none`, `tensorboard` (event files in <run_dir>/tensorboard) or `wandb` (offline, in <run_dir>/wandb)."""
    project: str = "bench"
    """W&B project name (also used offline; `wandb sync` uploads later)."""


@dataclass
class LearnerConfig:
    name: str = MISSING
    """Registry key in bench.learners.LEARNERS."""


@dataclass
class NetworkConfig:
    """The policy-value network of the learners that have one (`bench.network.PolicyValueNet`): mcts's schema and
    rlvr's `policy` extend it, each with its own defaults, and the `network` group (conf/network/) writes one set of
    these fields into either, so both learn on the same network: `+network@learner=shared` (mcts keeps them at its
    top level), `+network@learner.policy=shared` (rlvr), as conf/experiment/claim3/ does."""

    blocks: int = 2
    """Residual blocks in the tower."""
    channels: int = 32
    """Channels of every convolution in the tower."""
    policy_head: str = "conv"
    """`conv` (AlphaZero's 73 move planes) or `attention` (Lc0-style from-square . to-square logits, which see
    what stands on a move's target square; see bench.network)."""
    policy_dim: int = 16
    """Query/key width of the attention policy head."""
    value_head: str = "wdl"
    """`wdl` (win/draw/loss logits, cross-entropy) or `scalar` (tanh, squared error)."""
    value_pool: bool = True
    """Globally pooled value head (see bench.network); False gives AlphaZero's flattened head."""


@dataclass
class RandomLearnerConfig(LearnerConfig):
    name: str = "random"


@dataclass
class Config:
    # The defaults list in conf/config.yaml fills these groups.
    learner: Any = MISSING
    ladder: LadderConfig = MISSING
    eval: EvalConfig = field(default_factory=EvalConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    stockfish: StockfishConfig = field(default_factory=StockfishConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    """An optional experiment logger mirroring each metrics record (off by default)."""
    llm: Any = None
    """The language-model backend (`llm=` group: embedded, openai, llamacpp); used by the icl learner only."""
    seed: int = 0
    """Seeds the learner, the evaluation openings order and every ε-mixed or random player."""
    resume: bool = False
    """Continue the run in `run_dir` from its last checkpoint."""
    run_dir: Optional[str] = None
    """Where results go; defaults to Hydra's output directory (results/<learner>/<timestamp>)."""
    progress: bool = True
    """Progress bars on stderr."""
    report: bool = True
    """After a single run, write its HTML report into <run_dir>/report/ (python -m bench.report does the same)."""
    checkpoint: Optional[str] = None
    """A checkpoint to load instead of training (used by `python -m bench.uci` and evaluation-only runs)."""


LEARNER_SCHEMAS: dict[str, type] = {"random": RandomLearnerConfig}
"""Learner name -> config schema; a learner package adds itself here in `register_learner_schema`."""


LLM_SCHEMA: type | None = None
"""Schema of the `llm` group, registered by the icl learner's config module when it imports."""


def register_learner_schema(name: str, schema: type) -> None:
    LEARNER_SCHEMAS[name] = schema


def register_llm_schema(schema: type) -> None:
    global LLM_SCHEMA
    LLM_SCHEMA = schema


def register_configs() -> None:
    """Register every schema with Hydra's ConfigStore (idempotent)."""
    from bench.learners import load_learner_schemas

    load_learner_schemas()
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    cs.store(group="ladder", name="base_ladder", node=LadderConfig)
    cs.store(group="eval", name="base_eval", node=EvalConfig)
    cs.store(group="budget", name="base_budget", node=BudgetConfig)
    cs.store(group="runtime", name="base_runtime", node=RuntimeConfig)
    cs.store(group="network", name="base_network", node=NetworkConfig)
    for name, schema in LEARNER_SCHEMAS.items():
        cs.store(group="learner", name=f"base_{name}", node=schema)
    if LLM_SCHEMA is not None:
        cs.store(group="llm", name="base_llm", node=LLM_SCHEMA)

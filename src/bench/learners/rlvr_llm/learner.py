"""The rlvr_llm learner: GRPO from verifiable rewards on the language model itself (issue 15).

One `improve()` is one GRPO step, read top to bottom:
  1. (once, with `warm_start=sft`) a supervised phase on Stockfish's best moves (`sft.py`);
  2. draw `tasks_per_step` tasks from rlvr's autocurriculum pool (rlvr's generators; held-out positions refused);
  3. play G rollouts of each: the model picks its moves by `action=choice` (softmax over the legal moves'
     log-likelihoods, icl's scoring with its prefix cache) or `action=text` (it writes an answer, icl's parser reads
     it, `text.py`); multi-move tasks get the opponent's replies from rlvr's `Opponents`;
  4. score every rollout with rlvr's verifiers; group-relative advantages (rlvr's `group_advantages`);
  5. clipped-ratio gradient steps on a LoRA adapter (or every weight), with an optional KL to the base model (the
     adapter disabled), one gradient-carrying forward pass per position (`policy.py`);
  6. report tokens, measured FLOPs, rollouts, tasks and verifier calls to the common counters; update the pool.

`eval_info()` scores a held-out task set (never trained on) greedily at every evaluation point, beside the Elo.
The evaluated player is icl's `IclPlayer` in score mode: the same prompt, the same scoring as learner=icl.
"""

from __future__ import annotations

import copy
import logging
import random
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Iterator

import chess
import numpy as np
import torch

from bench.compute import FlopCounter, count_flops
from bench.cpus import available_cpus
from bench.errors import BenchError
from bench.games import thread_only
from bench.learners import LearnerContext
from bench.learners.icl.backends import open_backend
from bench.learners.icl.lora import adapter_tensors, attach_adapter, load_adapter
from bench.learners.icl.player import IclPlayer, PlaySettings, Tally, flops_method
from bench.learners.icl.prompts import Prompt, PromptBuilder
from bench.learners.rlvr.curriculum import Generator, TaskPool
from bench.learners.rlvr.grpo import group_advantages
from bench.learners.rlvr.rollouts import Opponents, _Rollout, engine_work
from bench.learners.rlvr.sources import RandomPlaySource, ReservoirSource
from bench.learners.rlvr.tasks import Task
from bench.learners.rlvr.verifiers import EnginePool, Finished, Verifiers, stops_after_last_move
from bench.learners.rlvr_llm.config import ACTIONS, TRAINS, WARM_STARTS
from bench.learners.rlvr_llm.heldout import HeldoutSet
from bench.learners.rlvr_llm.policy import candidates, move_logliks, move_objective, pack, policy_logprobs

log = logging.getLogger("bench.rlvr_llm")


@dataclass
class Position:
    """A position where the learner chose moves in a step (rollouts of a group that reached it share it)."""

    board: chess.Board | None
    """With the rollout's moves on its stack (the prompt shows them); None for a non-chess family's problem."""
    legal: list[chess.Move]
    answers: list[str]
    prompt: Prompt | None = None
    """A non-chess family's prompt (`other_tasks.py`); None: icl's prompt for `board`."""


@dataclass
class Step:
    """What a GRPO step trains on: every learner move and each rollout's reward."""

    positions: list[Position] = field(default_factory=list)
    move_position: list[int] = field(default_factory=list)
    """Per move: its position."""
    actions: list[int] = field(default_factory=list)
    """Per move (choice): the index of the chosen move among the position's legal moves."""
    logp_old: list[float] = field(default_factory=list)
    rollout: list[int] = field(default_factory=list)
    """Per move: its rollout (rollout r belongs to task r // G)."""
    rewards: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    plies: int = 0
    verifier_calls: int = 0
    final_fens: list[str] = field(default_factory=list)
    texts: list[Any] = field(default_factory=list)
    """action=text: per move, the sampled answer (see text.py)."""
    illegal: int = 0
    """action=text: answers without a legal move."""


@dataclass
class Picks:
    """The moves chosen for the rollouts that share one position."""

    position: Position
    moves: list[chess.Move | None]
    """None: action=text found no legal move in the answer."""
    actions: list[int]
    logp_old: list[float]
    texts: list[Any]


@dataclass(frozen=True)
class _Adapter:
    rank: int
    alpha: float
    dropout: float
    target_modules: list[str]


def adapter_modules(cfg: Any, model: Any) -> _Adapter:
    """icl's adapter settings with `target_modules` narrowed to the last `top_layers` blocks: the full names of the
    matching linear layers there (peft matches a name exactly)."""
    modules = list(cfg.target_modules)
    top = int(cfg.top_layers)
    blocks = int(getattr(model.config, "num_hidden_layers", 0) or 0)
    if top > 0 and blocks:
        first = max(0, blocks - top)
        names = []
        for name, _ in model.named_modules():
            parts = name.split(".")
            if parts[-1] in cfg.target_modules and "layers" in parts:
                index = parts[parts.index("layers") + 1]
                if index.isdigit() and int(index) >= first:
                    names.append(name)
        if not names:
            raise BenchError(f"learner.adapter.top_layers={top}: no {modules} in the model's last {top} blocks")
        modules = names
    return _Adapter(int(cfg.rank), float(cfg.alpha), float(cfg.dropout), modules)


def _check(cfg: Any) -> None:
    for name, value, allowed in (("action", cfg.action, ACTIONS), ("train", cfg.train, TRAINS),
                                 ("warm_start", cfg.warm_start, WARM_STARTS), ("grpo.loss_agg", cfg.grpo.loss_agg,
                                                                               ("token", "sequence"))):
        if value not in allowed:
            raise BenchError(f"learner.{name}={value!r}; choose one of {', '.join(allowed)}")
    g = cfg.grpo
    if int(g.group_size) < 2 or int(g.tasks_per_step) < 1 or float(g.temperature) <= 0:
        raise BenchError("learner.grpo: group_size >= 2, tasks_per_step >= 1 and temperature > 0 are required")
    if cfg.train == "lora" and int(g.ref_update_steps) > 0:
        raise BenchError("learner.grpo.ref_update_steps needs train=full: with LoRA the reference is the base model "
                         "(the adapter disabled)")
    if str(cfg.family.name) != "chess":
        from bench.learners.rlvr_llm.other_tasks import check_config

        check_config(cfg.family, str(cfg.action))


class RlvrLlmLearner:
    """GRPO from verifiable rewards on a language model; see the module docstring."""

    name = "rlvr_llm"

    def __init__(self, cfg: Any, context: LearnerContext) -> None:
        _check(cfg)
        self.cfg, self.context = cfg, context
        seed = int(context.seed)
        self.rng = random.Random(seed)
        self.generator = torch.Generator().manual_seed(seed)
        self.threads = int(cfg.threads) or available_cpus()
        self.builder = PromptBuilder(cfg.prompts, show_legal=False)
        self.backend = open_backend(context.llm)
        if not all(hasattr(self.backend, a) for a in ("model", "exclusive", "weights_changed", "prompt_ids")):
            raise BenchError(f"learner=rlvr_llm trains the model's weights, so it needs llm=embedded (a model in this "
                             f"process); {self.backend.name} cannot")
        self.model = self.backend.model
        g = cfg.grpo
        self.ref_model: Any = None
        if cfg.train == "lora":
            self.wrapped = attach_adapter(self.model, adapter_modules(cfg.adapter, self.model), seed)
            params = [p for p in self.wrapped.parameters() if p.requires_grad]
        else:
            self.wrapped = None
            params = list(self.model.parameters())
            for p in params:
                p.requires_grad_(True)
            if float(g.kl_coef) > 0:
                self.ref_model = copy.deepcopy(self.model).eval()
                for p in self.ref_model.parameters():
                    p.requires_grad_(False)
        self.params = params
        self.trainable = int(sum(p.numel() for p in params))
        self.opt = torch.optim.AdamW(params, lr=float(g.lr), weight_decay=float(g.weight_decay))
        self.backend.weights_changed()
        stockfish = context.stockfish
        workers = max(1, int(cfg.engine_workers))
        self.engines = EnginePool(workers, getattr(stockfish, "path", None), int(getattr(stockfish, "hash_mb", 16)),
                                  float(getattr(stockfish, "move_timeout", 30.0)))
        self.verifiers = Verifiers(self.engines)
        self.opponents = Opponents(context.rungs, workers, stockfish, seed)
        self.reservoir = ReservoirSource(int(cfg.rollout_buffer), RandomPlaySource(4, 60))
        self.other_family = str(cfg.family.name) != "chess"
        """A non-chess family (issue 19): its generators, checker and held-out set replace the chess ones."""
        if self.other_family:
            from bench.learners.rlvr_llm import other_tasks

            self.heldout: Any = other_tasks.FamilyHeldout(cfg.family)
            self.pool = TaskPool(cfg.pool, other_tasks.generators(cfg.family), self.rng)  # type: ignore[arg-type]
            self.task_params: dict[str, Any] = {}
            self.heldout_params: Any = None
        else:
            self._chess_tasks(cfg, context)
        self.flops = FlopCounter()
        self.steps = 0
        self.sft_done = cfg.warm_start != "sft"
        self.totals: dict[str, float] = {"tasks": 0, "rollouts": 0, "moves": 0, "plies": 0, "verifier_calls": 0,
                                         "tokens": 0, "forward_passes": 0, "train_flops": 0.0, "infer_flops": 0.0,
                                         "illegal": 0, "train_seconds": 0.0, "refused_heldout": 0}
        self.history: list[dict[str, Any]] = []
        """Per step: mean reward, solve rate, KL, entropy, ... (the last `log_window` in the records)."""
        self.heldout_start: dict[str, Any] | None = None
        self.sft_info: dict[str, Any] = {}
        self.eval_tally = Tally()
        self.players_made = 0
        self.counting = True
        """False while the held-out set is scored: measurement, not learning, so no counter moves."""
        self._lock = threading.Lock()
        context.meter.set_episode_kind("rollouts")

    def _chess_tasks(self, cfg: Any, context: LearnerContext) -> None:
        """The chess generators, pool and held-out set (rlvr's)."""
        self.heldout = HeldoutSet.from_config(cfg.heldout)
        generators = [Generator(gc, int(cfg.pool.max_generate_tries), self.reservoir, context.run_dir)
                      for gc in cfg.generators]
        for gen in generators:
            self.opponents.resolve(str(gen.cfg.opponent))
            if gen.file is not None:  # a task file shared with the held-out set: its held-out lines are refused
                gen.file.tasks = [t for t in gen.file.tasks if not self.heldout.contains(t.fen)]
                if not gen.file.tasks:
                    raise BenchError(f"generator {gen.name}: every task of its file is in the held-out set")
        self.task_params = {gen.name: gen.cfg for gen in generators}
        self.heldout_params = self.heldout.params(cfg.heldout)
        self.pool = TaskPool(cfg.pool, generators, self.rng)

    # -- the model in and out of training -------------------------------------------------------------------------
    @contextmanager
    def _every_core(self) -> Iterator[None]:
        """torch on `self.threads` (every core by default) inside the block: nothing else runs then (play uses
        llm.threads)."""
        threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(threads)

    @contextmanager
    def _training(self) -> Iterator[None]:
        """No forward pass of a player or of sampling runs while weights change; the prefix cache is dropped after."""
        with self.backend.exclusive(), self._every_core(), torch.enable_grad():
            yield
        self.backend.weights_changed()

    def _reference(self) -> Any:
        """The KL reference: the model with the adapter disabled (LoRA) or the frozen copy (full)."""
        if self.wrapped is not None:
            return self.wrapped.disable_adapter()
        return nullcontext()

    def _measured(self, key: Any, run: Any) -> float:
        known = self.flops.known(key)
        if known is None:
            return self.flops.count(key, run)
        run()
        return known

    def _count(self, tokens: int, calls: int, infer_flops: float = 0.0, train_flops: float = 0.0) -> None:
        """Tokens run and FLOPs of `calls` model passes; passes that train (train_flops) are not forward passes
        (`samples.forward_passes` counts the passes that choose moves, as for every learner)."""
        if not self.counting:
            return
        calls = 0 if train_flops else calls
        meter = self.context.meter
        meter.add_samples("tokens", tokens)
        meter.add_samples("forward_passes", calls)
        if infer_flops:
            meter.add_infer_flops(infer_flops)
        if train_flops:
            meter.add_train_flops(train_flops)
        self.totals["tokens"] += tokens
        self.totals["forward_passes"] += calls
        self.totals["infer_flops"] += infer_flops
        self.totals["train_flops"] += train_flops

    def score_position(self, board: chess.Board) -> tuple[list[chess.Move], list[str], torch.Tensor]:
        """(legal moves, answers, log-likelihoods) by icl's scoring (no gradient, prefix cache), counted."""
        legal, answers = candidates(self.builder, board)
        return legal, answers, self.score_answers(self.builder.prompt("", board), answers)

    def score_answers(self, prompt: Prompt, answers: list[str]) -> torch.Tensor:
        """Log-likelihoods of `answers` after `prompt` by icl's scoring (no gradient, prefix cache), counted."""
        if not self.counting:  # measurement (the held-out set): nothing to count, no dispatch mode's overhead
            return torch.tensor(self.backend.score(prompt, answers, end=bool(self.cfg.score_end)).logprobs)
        with count_flops() as measured:
            scores = self.backend.score(prompt, answers, end=bool(self.cfg.score_end))
        self._count(scores.tokens_in + scores.tokens_out, 1, infer_flops=measured.total)
        return torch.tensor(scores.logprobs)

    # -- one GRPO step ------------------------------------------------------------------------------------------
    def improve(self) -> None:
        with self._every_core():  # nothing else runs while learning
            self._improve()

    def _improve(self) -> None:
        if not self.sft_done:
            from bench.learners.rlvr_llm.sft import warm_start

            self.sft_info = warm_start(self)
            self.sft_done = True
        g = self.cfg.grpo
        drawn = self._draw(int(g.tasks_per_step))
        tasks = [task for task, _ in drawn]
        group = int(g.group_size)
        start = time.perf_counter()
        engines = engine_work(self.opponents, self.verifiers)
        step = self._rollouts(tasks, group, float(g.temperature))
        nodes, new_games, starts = (a - b for a, b in zip(engine_work(self.opponents, self.verifiers), engines))
        if self.cfg.action == "choice":
            parts = self._train_choice(step, len(tasks), group)
        else:
            from bench.learners.rlvr_llm.text import train as text_train

            parts = text_train(self, step, len(tasks), group)
        meter = self.context.meter
        meter.add_samples("rollouts", len(tasks) * group)
        meter.add_samples("tasks", len(tasks))
        meter.add_samples("positions", len(step.rollout))
        meter.add_verifier_calls(step.verifier_calls)
        meter.add_engine_nodes(nodes, new_games=new_games, starts=starts)
        self.pool.update([(task, fresh, step.rewards[t]) for t, (task, fresh) in enumerate(drawn)])
        for fen in step.final_fens[:: max(1, group // 2)]:
            self.reservoir.add(fen, self.rng)
        self.steps += 1
        for key, value in (("tasks", len(tasks)), ("rollouts", len(tasks) * group), ("moves", len(step.rollout)),
                           ("plies", step.plies), ("verifier_calls", step.verifier_calls), ("illegal", step.illegal)):
            self.totals[key] += value
        self.totals["train_seconds"] += time.perf_counter() - start
        record = {"step": self.steps, "reward_mean": float(step.rewards.mean()),
                  "solve_rate": float((step.rewards >= 1.0).mean()),
                  "informative_groups": int((step.rewards.std(axis=1) > 0).sum()), **parts}
        if self.cfg.action == "text":
            record["illegal_rate"] = step.illegal / max(1, len(tasks) * group)
        self.history.append(record)
        if int(self.cfg.log_every) and self.steps % int(self.cfg.log_every) == 0:
            log.info("rlvr_llm step %d: %s", self.steps, {k: round(v, 4) if isinstance(v, float) else v
                                                          for k, v in record.items()})

    def train_metrics(self) -> dict[str, float]:
        """The latest step's figures, for the progress bar."""
        last = self.history[-1] if self.history else {}
        return {k: last[k] for k in ("reward_mean", "kl", "entropy") if k in last}

    def _draw(self, n: int) -> list[tuple[Task, bool]]:
        """Tasks from the pool; a fresh candidate on a held-out position is replaced (never trained on)."""
        drawn = self.pool.batch(n)
        out = []
        for task, fresh in drawn:
            tries = 0
            while self.heldout.contains(task.fen):
                self.totals["refused_heldout"] += 1
                tries += 1
                if tries > 100:
                    raise BenchError("the training generators keep producing held-out positions; change them")
                task = self.pool.fresh(1)[0]
            out.append((task, fresh))
        return out

    def _params_of(self, task: Task) -> Any:
        if task.generator in self.task_params:
            return self.task_params[task.generator]
        if task.generator == self.heldout.name:
            return self.heldout_params
        raise BenchError(f"task {task.task_id} names generator {task.generator!r}, which is not configured")

    def _rollouts(self, tasks: list[Task], group: int, temperature: float, greedy: bool = False) -> Step:
        """G rollouts of each task, in lockstep: rollouts at the same position (same prompt) share one model call."""
        if self.other_family:
            from bench.learners.rlvr_llm.other_tasks import rollouts

            return rollouts(self, tasks, group, temperature, greedy)
        step = Step()
        rollouts: list[_Rollout] = []
        for t, task in enumerate(tasks):
            for _ in range(group):
                board = chess.Board(task.fen)
                r = _Rollout(t, board, board.turn)
                r.pushed()
                r.done = r.over(0, learner_to_move=True)
                rollouts.append(r)
        names = {t: self.opponents.resolve(task.opponent) for t, task in enumerate(tasks)}
        failed: set[int] = set()
        while True:
            active = [i for i, r in enumerate(rollouts) if not r.done]
            if not active:
                break
            by_prompt: dict[tuple[str, tuple[str, ...]], list[int]] = {}
            for i in active:
                board = rollouts[i].board
                by_prompt.setdefault((board.fen(), tuple(m.uci() for m in board.move_stack)), []).append(i)
            replying: dict[str, list[int]] = {}
            for members in by_prompt.values():
                board = rollouts[members[0]].board
                if self.cfg.action == "text" and not greedy:
                    from bench.learners.rlvr_llm.text import choose as text_choose

                    picks = text_choose(self, board, len(members), temperature)
                else:
                    picks = self._choose(board, len(members), temperature, greedy)
                step.positions.append(picks.position)
                for i, move, action, logp_old, text in zip(members, picks.moves, picks.actions, picks.logp_old,
                                                            picks.texts):
                    r = rollouts[i]
                    step.move_position.append(len(step.positions) - 1)
                    step.actions.append(action)
                    step.logp_old.append(logp_old)
                    step.rollout.append(i)
                    step.texts.append(text)
                    if move is None:  # action=text: no legal move in the answer; the rollout ends with the penalty
                        failed.add(i)
                        r.done = True
                        continue
                    r.board.push(move)
                    r.moves += 1
                    step.plies += 1
                    task = tasks[r.task_index]
                    if (r.moves >= task.horizon and stops_after_last_move(task.verifier)) or \
                            r.over(r.pushed(), learner_to_move=False):
                        r.done = True
                    else:
                        replying.setdefault(names[r.task_index], []).append(i)
            for name, idx in replying.items():
                for i, move in zip(idx, self.opponents.moves(name, [rollouts[i].board for i in idx])):
                    r = rollouts[i]
                    r.board.push(move)
                    step.plies += 1
                    repeated = r.pushed()
                    if r.moves >= tasks[r.task_index].horizon or r.over(repeated, learner_to_move=True):
                        r.done = True
        finished = [Finished(tasks[r.task_index], self._params_of(tasks[r.task_index]), tasks[r.task_index].board(),
                             r.board, r.learner, r.moves) for r in rollouts]
        rewards, calls = self.verifiers.score(finished)
        for i in failed:
            rewards[i] = float(self.cfg.text.format_penalty)
        step.illegal = len(failed)
        step.rewards = np.asarray(rewards, dtype=np.float32).reshape(len(tasks), group)
        step.verifier_calls = calls
        step.final_fens = [r.board.fen() for r in rollouts]
        return step

    def _choose(self, board: chess.Board, n: int, temperature: float, greedy: bool) -> Picks:
        """action=choice: n moves sampled from softmax(l / T) over the legal moves (greedy: the most likely)."""
        legal, answers, logliks = self.score_position(board)
        logp = policy_logprobs(logliks, temperature)
        if greedy:
            picks = [int(torch.argmax(logliks))] * n
        else:
            picks = torch.multinomial(logp.exp(), n, replacement=True, generator=self.generator).tolist()
        return Picks(Position(board.copy(), legal, answers), [legal[p] for p in picks], [int(p) for p in picks],
                     [float(logp[p]) for p in picks], [None] * n)

    def move_weights(self, step: Step, keep: np.ndarray, rollouts: int) -> np.ndarray:
        """Each kept move's share of the step's mean: 1/moves (`token`) or 1/(rollouts x its rollout's moves)
        (`sequence`, GRPO's 1/G sum_i 1/|o_i| sum_t)."""
        owners = np.asarray(step.rollout)[keep]
        if str(self.cfg.grpo.loss_agg) == "token":
            return np.full(len(keep), 1.0 / max(1, len(keep)))
        counts = np.bincount(owners, minlength=rollouts).astype(np.float64)
        present = int((counts > 0).sum())
        return 1.0 / (present * counts[owners])

    def _train_choice(self, step: Step, tasks: int, group: int) -> dict[str, float]:
        """Clipped-ratio steps over the positions of informative groups; one forward (with gradients) per position."""
        g = self.cfg.grpo
        advantages = group_advantages(torch.from_numpy(step.rewards), scale=bool(g.scale_rewards)).flatten()
        per_move = advantages[torch.tensor(step.rollout, dtype=torch.long)] if step.rollout else torch.zeros(0)
        keep = np.flatnonzero(per_move.abs().numpy() > 0)
        stats = {"loss": 0.0, "surrogate": 0.0, "kl": 0.0, "entropy": 0.0, "clip_fraction": 0.0,
                 "informative_moves": float(len(keep)), "updates": 0.0}
        if len(keep) == 0:
            return stats
        positions = sorted({step.move_position[i] for i in keep})
        minibatch = max(1, int(g.minibatch))
        temperature = float(g.temperature)
        with self._training():
            for _ in range(max(1, int(g.epochs))):
                order = [positions[i] for i in torch.randperm(len(positions), generator=self.generator).tolist()]
                for first in range(0, len(order), minibatch):
                    chunk = order[first:first + minibatch]
                    moves = np.asarray([i for i in keep if step.move_position[i] in set(chunk)])
                    weights = self.move_weights(step, moves, tasks * group)
                    totals = self._choice_minibatch(step, chunk, moves, weights, per_move, temperature)
                    if totals is None:
                        continue
                    for key, value in totals.items():
                        stats[key] += value
                    stats["updates"] += 1
        for key in ("loss", "surrogate", "kl", "entropy", "clip_fraction"):
            stats[key] /= max(1.0, stats["updates"])
        return stats

    def _choice_minibatch(self, step: Step, chunk: list[int], moves: np.ndarray, weights: np.ndarray,
                          per_move: torch.Tensor, temperature: float) -> dict[str, float] | None:
        """Accumulate the objective's gradient over the positions in `chunk`, then one optimiser step."""
        g = self.cfg.grpo
        self.opt.zero_grad(set_to_none=True)
        sums = {"loss": 0.0, "surrogate": 0.0, "kl": 0.0, "entropy": 0.0, "clip_fraction": 0.0}
        kl_coef = float(g.kl_coef)
        for p in chunk:
            here = [k for k, i in enumerate(moves) if step.move_position[i] == p]
            idx = moves[here]
            pos = step.positions[p]
            prompt_ids = self.backend.prompt_ids(pos.prompt or self.builder.prompt("", pos.board))
            packed = pack(prompt_ids, [self.backend.answer_ids(a, bool(self.cfg.score_end)) for a in pos.answers])
            logp_ref = None
            if kl_coef > 0:
                with torch.no_grad(), self._reference():
                    ref_model = self.ref_model if self.ref_model is not None else self.model
                    holder: dict[str, torch.Tensor] = {}
                    flops = self._measured(("ref", packed.length, len(packed.keep)),
                                           lambda: holder.setdefault("l", move_logliks(ref_model, packed)))
                    logp_ref = policy_logprobs(holder["l"], temperature)
                self._count(packed.length, 1, infer_flops=flops)
            out: dict[str, Any] = {}

            def run() -> None:
                logp = policy_logprobs(move_logliks(self.model, packed), temperature)
                parts = move_objective(
                    logp, torch.tensor([step.actions[i] for i in idx]),
                    torch.tensor([step.logp_old[i] for i in idx]), per_move[torch.from_numpy(idx)],
                    torch.from_numpy(weights[here]).float(), float(g.clip_low), float(g.clip_high), kl_coef, logp_ref,
                    float(g.entropy_coef))
                (-parts["objective"]).backward()
                out.update(parts)

            flops = self._measured(("train", packed.length, len(packed.keep)), run)
            self._count(packed.length, 1, train_flops=flops)
            sums["loss"] -= float(out["objective"].detach())
            for key, name in (("surrogate", "surrogate"), ("kl", "kl"), ("entropy", "entropy"),
                              ("clip_fraction", "clipped")):
                sums[key] += float(out[name])
        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads or not all(torch.isfinite(gr).all() for gr in grads):
            log.warning("rlvr_llm step %d: non-finite gradient, update skipped (lower grpo.lr?)", self.steps)
            self.opt.zero_grad(set_to_none=True)
            return None
        if float(g.max_grad_norm) > 0:
            torch.nn.utils.clip_grad_norm_(self.params, float(g.max_grad_norm))
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return sums

    # -- players and records ------------------------------------------------------------------------------------
    @thread_only
    def make_player(self) -> IclPlayer:
        """icl's player in score mode with the current weights (it refuses to move once they change)."""
        with self._lock:
            self.players_made += 1
            settings = PlaySettings(mode="score", temperature=float(self.cfg.eval_temperature), score_norm="sum",
                                    score_end=bool(self.cfg.score_end))
            return IclPlayer(f"rlvr_llm-step{self.steps}", self.backend, self.builder, "", settings, self.eval_tally,
                             seed=int(self.context.seed) * 1_000_003 + self.players_made,
                             weights_version=self.backend.weights_version)

    def outside_knowledge(self) -> list[str]:
        """Knowledge beyond the rules of chess the learning used (names from compute.OUTSIDE_KNOWLEDGE)."""
        used = ["pretrained model"]
        rungs = {str(r.name): r for r in self.context.rungs}
        gens = list(self.task_params.values())
        if any(str(rungs[self.opponents.resolve(str(gc.opponent))].kind) != "random"
               for gc in gens if self.opponents.resolve(str(gc.opponent)) in rungs and int(gc.horizon) > 1
               and not stops_after_last_move(str(gc.verifier))):
            used.append("engine opponent")
        if any(str(gc.verifier) in ("eval", "result") or (str(gc.verifier) == "material" and int(gc.confirm_nodes) > 0)
               for gc in gens):
            used.append("engine-judged rewards")
        if self.cfg.warm_start == "sft":
            used.append("engine targets")
        return used

    def eval_info(self) -> dict[str, Any]:
        """The held-out set scored now (learning time not charged), the steps' curves and the compute breakdown."""
        with self._every_core(), self.context.meter.paused():  # called after the evaluation's games, alone
            heldout = self.heldout.score(self) if self.heldout.tasks else {}
        if heldout:
            if self.heldout_start is None:
                self.heldout_start = heldout
            heldout = self.heldout.compare(heldout, self.heldout_start)
        recent = self.history[-20:]
        tasks = max(1.0, self.totals["tasks"])
        return {
            "backend": self.backend.name,
            "parameters": self.backend.parameters,
            "action": str(self.cfg.action),
            "train": str(self.cfg.train),
            "trainable_parameters": self.trainable,
            "warm_start": str(self.cfg.warm_start),
            "steps": self.steps,
            "outside_knowledge": self.outside_knowledge(),
            "flops_method": flops_method(self.backend),
            "heldout": {k: v for k, v in heldout.items() if k != "solved_vector"},
            "recent_steps": {k: float(np.mean([r[k] for r in recent])) for k in
                             ("reward_mean", "solve_rate", "kl", "entropy", "clip_fraction", "illegal_rate")
                             if recent and all(k in r for r in recent)},
            "last_step": dict(self.history[-1]) if self.history else {},
            "pool": self.pool.stats(),
            "totals": dict(self.totals),
            "per_task": {"tokens": self.totals["tokens"] / tasks, "rollouts": self.totals["rollouts"] / tasks,
                         "moves": self.totals["moves"] / tasks, "verifier_calls": self.totals["verifier_calls"] / tasks},
            "sft": dict(self.sft_info),
            "eval": self.eval_tally.take(),
        }

    def state_dict(self) -> dict[str, Any]:
        weights = adapter_tensors(self.wrapped) if self.wrapped is not None else {
            k: v.detach().clone() for k, v in self.model.state_dict().items()}
        return {
            "weights": weights, "train": str(self.cfg.train), "optimizer": self.opt.state_dict(),
            "pool": self.pool.state_dict(),
            "reservoir": {"fens": list(self.reservoir.fens), "seen": self.reservoir.seen},
            "rng": {"python": self.rng.getstate(), "torch": self.generator.get_state()},
            "opponents": self.opponents.state_dict(), "steps": self.steps, "sft_done": self.sft_done,
            "sft_info": dict(self.sft_info), "totals": dict(self.totals), "history": list(self.history),
            "heldout_start": self.heldout_start,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("train") != str(self.cfg.train):
            raise BenchError(f"the checkpoint trained train={state.get('train')}; resume it with that setting")
        with self.backend.exclusive():
            if self.wrapped is not None:
                load_adapter(self.wrapped, state["weights"])
            else:
                self.model.load_state_dict(state["weights"])
        self.backend.weights_changed()
        self.opt.load_state_dict(state["optimizer"])
        self.pool.load_state_dict(state["pool"])
        self.reservoir.fens = list(state["reservoir"]["fens"])
        self.reservoir.seen = int(state["reservoir"]["seen"])
        self.rng.setstate(state["rng"]["python"])
        self.generator.set_state(state["rng"]["torch"])
        self.opponents.load_state_dict(state.get("opponents", {}))
        self.steps = int(state["steps"])
        self.sft_done = bool(state["sft_done"])
        self.sft_info = dict(state.get("sft_info", {}))
        self.totals = {**self.totals, **{k: float(v) for k, v in state["totals"].items()}}
        self.history = list(state["history"])
        self.heldout_start = state.get("heldout_start")

    def close(self) -> None:
        self.opponents.close()
        self.verifiers.close()
        self.backend.close()


__all__ = ["Position", "RlvrLlmLearner", "Step"]

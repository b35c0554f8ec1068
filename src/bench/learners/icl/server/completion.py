"""The model's side of one completion, run in a slot process: every prompt token rated generically (one causal forward
pass over the whole text, each token's log-probability under the distribution before it, its text and character
offset, as vLLM returns them), then up to `max_tokens` generated tokens."""

from __future__ import annotations

from typing import Any

from bench.learners.icl.server.protocol import RequestError


def tokens_with_offsets(tokenizer: Any, text: str, special: bool = True) -> tuple[list[int], list[int]]:
    """(token ids of `text`, as vLLM encodes a prompt: with the tokenizer's special tokens unless `special` is
    False; each token's start in `text`).

    A fast tokenizer gives the offsets; otherwise they are the running length of each token's own decoding, as
    vLLM computes them (exact when every token holds whole characters)."""
    try:
        enc = tokenizer(text, add_special_tokens=special, return_offsets_mapping=True)
        return list(enc.input_ids), [int(start) for start, _ in enc.offset_mapping]
    except NotImplementedError:
        ids = list(tokenizer(text, add_special_tokens=special).input_ids)
        return ids, _running_offsets(tokenizer, ids, 0)


def pieces(tokenizer: Any, ids: list[int]) -> list[str]:
    """Each token's own text (special tokens included); [] for no tokens (batch_decode([]) gives [''])."""
    return tokenizer.batch_decode([[i] for i in ids], clean_up_tokenization_spaces=False) if ids else []


def _text(tokenizer: Any, ids: list[int]) -> str:
    """Generated tokens as text, as vLLM returns it: special tokens skipped, spaces left as they are."""
    return tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)


def _running_offsets(tokenizer: Any, ids: list[int], base: int) -> list[int]:
    offsets, at = [], base
    for piece in pieces(tokenizer, ids):
        offsets.append(at)
        at += len(piece)
    return offsets


def top_logprobs(tokenizer: Any, rows: Any, chosen: list[int], k: int) -> list[dict[str, float]]:
    """For each row of log-probabilities, its `k` likeliest tokens and the chosen one, as {token text: value}
    (vLLM's `top_logprobs`, which also always holds the chosen token)."""
    import torch

    index = torch.tensor(chosen, dtype=torch.long)[:, None]
    if k:
        index = torch.cat([rows.topk(k, dim=-1).indices, index], dim=1)
    values = rows.gather(1, index).tolist()
    texts = iter(pieces(tokenizer, index.flatten().tolist()))
    return [{next(texts): v for v in row} for row in values]


def complete(lm: Any, tokenizer: Any, job: dict[str, Any]) -> dict[str, Any]:
    """One completion for a parsed job: {"text", "finish_reason", "logprobs", "prompt_tokens", "completion_tokens"}."""
    import torch

    chat = "messages" in job
    text = (tokenizer.apply_chat_template(job["messages"], tokenize=False, add_generation_prompt=True) if chat
            else job["prompt"])
    ids, offsets = tokens_with_offsets(tokenizer, text, special=not chat)  # a chat template holds its own
    window = int(getattr(lm.config, "max_position_embeddings", 0) or 1 << 30)
    if not ids:
        raise RequestError(400, "the prompt encodes to no tokens")
    if len(ids) + job["max_tokens"] > window:
        raise RequestError(400, f"the prompt's {len(ids)} tokens plus max_tokens={job['max_tokens']} exceed the "
                                f"model's window of {window}")
    k, echo = job["logprobs"], job["echo"]
    rated = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
    generated, gen_values, gen_tops, finish = [], [], [], "length"
    if (echo and k is not None) or job["max_tokens"] > 0:
        with torch.inference_mode():
            out = lm(input_ids=torch.tensor([ids]), use_cache=job["max_tokens"] > 0,
                     logits_to_keep=0 if echo and k is not None else 1)
            logits = out.logits[0].float()
            if echo and k is not None:  # token i is rated by the distribution after tokens 0..i-1
                rows = torch.log_softmax(logits[:-1], dim=-1)
                chosen = torch.tensor(ids[1:], dtype=torch.long)[:, None]
                rated = {"tokens": pieces(tokenizer, ids),
                         "token_logprobs": [None] + rows.gather(1, chosen)[:, 0].tolist(),
                         "top_logprobs": [None] + top_logprobs(tokenizer, rows, ids[1:], k),
                         "text_offset": offsets}
            generated, gen_values, gen_tops, finish = _generate(lm, tokenizer, job, out, logits[-1])
    completion = _cut_at_stop(_text(tokenizer, generated), job["stop"])[0]
    result: dict[str, Any] = {"text": (text if echo else "") + completion, "finish_reason": finish,
                              "prompt_tokens": len(ids), "completion_tokens": len(generated), "logprobs": None}
    if k is not None and not chat:
        result["logprobs"] = {
            "tokens": rated["tokens"] + pieces(tokenizer, generated),
            "token_logprobs": rated["token_logprobs"] + gen_values,
            "top_logprobs": rated["top_logprobs"] + gen_tops,
            "text_offset": rated["text_offset"] + _running_offsets(tokenizer, generated, len(text) if echo else 0)}
    return result


def _cut_at_stop(text: str, stop: list[str]) -> tuple[str, bool]:
    cuts = [text.find(s) for s in stop if s in text]
    return (text[:min(cuts)], True) if cuts else (text, False)


def _generate(lm: Any, tokenizer: Any, job: dict[str, Any], out: Any, row: Any) -> tuple[list[int], list[float],
                                                                                        list[dict[str, float]], str]:
    """Up to `max_tokens` tokens after the prompt's forward pass `out` (next-token logits `row`): greedy at
    temperature 0, else sampled with a seeded generator; stops at an end-of-sequence token or a stop string."""
    import torch

    ends = {tokenizer.eos_token_id, *_as_list(getattr(lm.generation_config, "eos_token_id", None))} - {None}
    generator = torch.Generator().manual_seed(int(job["seed"] or 0))
    tokens: list[int] = []
    values: list[float] = []
    tops: list[dict[str, float]] = []
    for step in range(job["max_tokens"]):
        logp = torch.log_softmax(row, dim=-1)
        if job["temperature"] > 0:
            token = int(torch.multinomial(torch.softmax(row / job["temperature"], -1), 1, generator=generator))
        else:
            token = int(torch.argmax(row))
        if token in ends:
            return tokens, values, tops, "stop"
        tokens.append(token)
        values.append(float(logp[token]))
        tops += top_logprobs(tokenizer, logp[None], [token], job["logprobs"] or 0)
        text, stopped = _cut_at_stop(_text(tokenizer, tokens), job["stop"])
        if stopped:  # keep the tokens that start before the stop string
            keep = sum(1 for at in _running_offsets(tokenizer, tokens, 0) if at < len(text))
            return tokens[:keep], values[:keep], tops[:keep], "stop"
        if step + 1 < job["max_tokens"]:
            out = lm(input_ids=torch.tensor([[token]]), past_key_values=out.past_key_values, use_cache=True)
            row = out.logits[0, -1].float()
    return tokens, values, tops, "length"


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]

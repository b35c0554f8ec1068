"""A small OpenAI-compatible completions server for a local causal LM: a loopback reference for score mode.

Why it exists: score mode through a server (`llm=openai`, `learner.mode=score`) needs prompt log-probabilities
(`/v1/completions` with `echo` and `logprobs`, vLLM's semantics), and none of the servers that install here gives
correct ones (`transformers serve` refuses them, llama-cpp-python's are shifted by one token) while vLLM needs a
GPU. This one rates every prompt token generically: it tokenizes the whole text, runs one causal forward pass and
returns each token's log-probability under the distribution before it (the first token's is None), its text and its
character offset into the returned text. It knows nothing of moves or candidates, so a test that the client's
offsets and alignment recover the embedded backend's scores is a test of the client.

    python -m bench.learners.icl.serve --model DIR --port 8000 --slots 2 --threads-per-slot 1   # or bench-llm-serve

Endpoints: `GET /v1/models`, `GET /health`, `POST /v1/completions` (a prompt string; `max_tokens` 0 or more,
greedy at temperature 0, else sampled with `seed`; `echo`; `logprobs` 0-20; `stop`), `POST /v1/chat/completions`
(rendered with the model's chat template; no logprobs). A request it cannot serve (bad JSON or fields, `n` > 1,
streaming, constrained decoding, a prompt beyond the model's window) gets a 4xx JSON error; an unknown model 404.

Slots, as llama.cpp's `--parallel`: `--slots N` worker processes (spawned), each with its own copy of the model on
`--threads-per-slot` torch threads; the HTTP threads put requests on one queue and whichever slot is free takes the
next. Not a production server: no batching, no prefix cache, no authentication; bind it to loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.learners.icl.server.protocol import RequestError, parse_request, response
from bench.learners.icl.server.slots import Slots

MAX_BODY = 16 << 20


class Server(ThreadingHTTPServer):
    daemon_threads = True
    slots: Slots
    names: set[str]
    """Model names requests may ask for: `model_id` (the one /v1/models lists), the --model string, the folder."""
    model_id: str


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args: Any) -> None:  # one line per request would flood a benchmark's log
        pass

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout); nothing to answer
            pass

    def _error(self, status: int, message: str) -> None:
        kind = "invalid_request_error" if status < 500 else "server_error"
        self._send(status, {"error": {"message": message, "type": kind, "code": status}})

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(200, {"object": "list", "data": [{"id": self.server.model_id, "object": "model",
                                                         "owned_by": "bench"}]})
        elif self.path == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._error(404, f"no such endpoint: GET {self.path}")

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.rstrip("/")
        if path not in ("/v1/completions", "/v1/chat/completions"):
            self._error(404, f"no such endpoint: POST {self.path}")
            return
        try:
            result = self.server.slots.submit(parse_request(path, self._body(), self.server.names))
        except RequestError as exc:
            self._error(exc.status, str(exc))
            return
        self._send(200, response(path, self.server.model_id, result))

    def _body(self) -> Any:
        """The decoded JSON body, or RequestError."""
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit():
            raise RequestError(400, f"a bad Content-Length header: {length!r}")
        if int(length) > MAX_BODY:
            raise RequestError(413, f"the request body is over {MAX_BODY} bytes")
        try:
            return json.loads(self.rfile.read(int(length)))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RequestError(400, f"the request body is not JSON ({exc})") from None



# -- CLI ------------------------------------------------------------------------------------------------------------
def model_folder(model: str) -> Path:
    """The Hugging Face folder to serve: a folder with config.json, or `smollm2` / a .gguf (converted once)."""
    from bench.learners.icl.embedded import prepare_model

    if model == "smollm2" or model.endswith(".gguf"):
        return prepare_model(model)
    path = Path(model).expanduser()
    if not (path / "config.json").is_file():
        raise BenchError(f"--model {model}: not a Hugging Face model folder (no config.json there); give a local "
                         "folder, a .gguf file or smollm2")
    return path


def run_server(model: str, host: str = "127.0.0.1", port: int = 8000, slots: int = 1, threads: int = 1,
               name: str | None = None) -> None:
    """Load `slots` copies of the model, then serve until SIGTERM or Ctrl-C. The port is bound first, so a busy port
    fails before the load; it accepts connections only once every slot is ready."""
    if slots < 1 or threads < 1:
        raise BenchError(f"--slots {slots} --threads-per-slot {threads}: both must be at least 1")
    folder = model_folder(model)
    httpd = Server((host, port), Handler, bind_and_activate=False)
    try:
        httpd.server_bind()
    except OSError as exc:
        httpd.server_close()
        raise BenchError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    try:
        pool = Slots(folder, slots, threads)
    except BaseException:
        httpd.server_close()
        raise
    httpd.slots, httpd.model_id = pool, name or model
    httpd.names = {httpd.model_id, model, str(folder)}
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit)
    try:
        httpd.server_activate()
        bound = httpd.server_address[1]
        print(f"bench-llm-serve: ready: {httpd.model_id} on http://{host}:{bound}/v1 ({slots} slot(s) x {threads} "
              "thread(s))", flush=True)
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
        pool.close()


def _exit(signum: int, frame: Any) -> None:
    raise SystemExit(0)  # unwinds serve_forever, so the slots are stopped


def main(argv: list[str] | None = None) -> None:
    from bench.cli import guarded

    ap = argparse.ArgumentParser(prog="bench-llm-serve", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a local Hugging Face model folder (or smollm2, or a .gguf)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000, help="0: any free port (the ready line says which)")
    ap.add_argument("--slots", type=int, default=1, help="worker processes, each with a copy of the model")
    ap.add_argument("--threads-per-slot", type=int, default=1, help="torch threads in each slot")
    ap.add_argument("--name", default=None, help="the model name to answer to (default: --model as given)")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    guarded(lambda: run_server(args.model, args.host, args.port, args.slots, args.threads_per_slot, args.name))


if __name__ == "__main__":
    sys.exit(main())

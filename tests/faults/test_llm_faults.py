"""The language-model endpoint misbehaving through a whole icl run (llm=openai, generate mode).

A loopback HTTP server answers each request with the next entry of a fault cycle: good moves, 429 with and
without Retry-After, 500/503, answers slower than the timeout, truncated JSON, empty text, illegal and
unparsable moves. The run must finish every game and every record, and its counts must match what the server
did: every request the server saw is in `http.requests`, every retriable fault is a transport retry or a failed
request, and every empty/illegal/unparsable answer is an illegal move in the player's tally. A dead endpoint
(connection refused) turns every move into a counted forfeit, and the run still completes. The API key, read
from the environment, appears in no file the run writes.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import chess
import pytest

from bench.results import RunDir
from bench.run import run
from tests.conftest import compose_config
from tests.faults.conftest import Ledger

pytestmark = pytest.mark.stockfish

KEY = "sk-fault-suite-3b1f7e-never-written"
CYCLE = ["legal", "429-retry-after", "legal", "500", "legal", "slow", "truncated", "empty", "legal", "illegal",
         "unparsable", "429", "legal", "503-retry-after"]
RETRIABLE = {"429-retry-after", "500", "slow", "truncated", "429", "503-retry-after"}
NOT_A_MOVE = {"empty", "illegal", "unparsable"}
TIMEOUT_S = 0.4


def position(body: dict[str, Any]) -> chess.Board:
    text = json.dumps(body)
    fens = re.findall(r"Position \(FEN\): ([^\\]+)\\n", text)
    return chess.Board(fens[-1]) if fens else chess.Board()


def answer_for(kind: str, board: chess.Board) -> tuple[int, dict[str, str], bytes, float]:
    """(status, headers, body, delay) for one fault kind."""
    def ok(text: str) -> bytes:
        return json.dumps({"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 50, "completion_tokens": 2}}).encode()

    legal = sorted(board.san(m) for m in board.legal_moves)
    if kind == "legal":
        return 200, {}, ok(legal[len(legal) // 2]), 0.0
    if kind == "illegal":
        return 200, {}, ok("Ke9" if "Ke9" not in legal else "Qz1"), 0.0
    if kind == "unparsable":
        return 200, {}, ok("I would rather not say."), 0.0
    if kind == "empty":
        return 200, {}, ok(""), 0.0
    if kind == "truncated":
        return 200, {}, ok(legal[0])[:25], 0.0
    if kind == "slow":
        return 200, {}, ok(legal[0]), TIMEOUT_S * 3
    status = int(kind[:3])
    return status, ({"Retry-After": "1"} if kind.endswith("retry-after") else {}), b'{"error": "busy"}', 0.0


class FaultServer:
    """Serves CYCLE in order, one entry per request; counts what it served."""

    def __init__(self) -> None:
        self.served: Counter[str] = Counter()
        self.keys_seen: set[str] = set()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with server.lock:
                    kind = CYCLE[sum(server.served.values()) % len(CYCLE)]
                    server.served[kind] += 1
                    server.keys_seen.add(self.headers.get("Authorization", ""))
                status, headers, payload, delay = answer_for(kind, position(body))
                time.sleep(delay)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    server = FaultServer()
    yield server
    server.close()


def icl_http_cfg(url: str, *overrides: str) -> Any:
    return compose_config([
        "learner=icl", "ladder=quick", "eval=quick", "progress=false", "llm=openai", f"llm.base_url={url}",
        "llm.api_key_env=BENCH_FAULT_KEY", "llm.parameters=1000", f"llm.timeout_s={TIMEOUT_S}", "llm.max_attempts=3",
        "llm.backoff_s=0.01", "llm.retry_after_max_s=0.05", "learner.mode=generate", "learner.max_plies=10",
        "budget.unit=games", "budget.amount=1", "budget.points=[1]", "eval.games=2", "eval.max_plies=16", "eval.allow_uncalibrated_rules=true",
        "eval.concurrency=1", *overrides])


def totals(records: list[dict[str, Any]]) -> dict[str, int]:
    """Illegal answers, forfeits and backend errors over training (cumulative) and every evaluation (per record)."""
    out: Counter[str] = Counter()
    for record in records:
        for key in ("illegal", "forfeits", "backend_errors", "moves"):
            out[key] += record["learner_info"]["eval"][key]
    for key in ("illegal", "forfeits", "backend_errors", "moves"):
        out[key] += records[-1]["learner_info"]["train"][key]
    return dict(out)


def scan_for_key(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]


def test_every_endpoint_fault_is_retried_or_counted_and_the_run_completes(
        fault_server: FaultServer, tmp_path: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("BENCH_FAULT_KEY", KEY)
    caplog.set_level(logging.DEBUG)  # run.log gets everything, debug included: the key must still be absent
    run_dir = tmp_path / "run"
    with ledger.fault("LM endpoint: 429/5xx/slow/truncated/empty/illegal (icl run)") as outcome:
        run(icl_http_cfg(fault_server.url), run_dir=run_dir)
        records = RunDir(run_dir).read_metrics()
        games = RunDir(run_dir).read_games()
        outcome.lost = abs(len(records) - 2) + abs(len(games) - 4)
        assert [r["eval_index"] for r in records] == [0, 1] and all(r["games"] == 2 for r in records)
        assert all(g.headers["Result"] in ("1-0", "0-1", "1/2-1/2") for g in games)
        served = fault_server.served
        assert set(served) == set(CYCLE), f"not every fault was served: {served}"
        http = records[-1]["learner_info"]["http"]
        assert http["requests"] == sum(served.values())
        assert http["transport_retries"] + http["failed_requests"] == sum(served[k] for k in RETRIABLE)
        counts = totals(records)
        assert counts["illegal"] == sum(served[k] for k in NOT_A_MOVE)
        assert counts["backend_errors"] == http["failed_requests"]
        assert counts["forfeits"] >= counts["backend_errors"]
        pgn_forfeits = sum(int(g.headers[f"{side}Forfeits"]) for g in games for side in ("White", "Black"))
        assert pgn_forfeits == sum(r["learner_info"]["eval"]["forfeits"] for r in records)
    with ledger.fault("API key written to a run file"):
        assert fault_server.keys_seen == {f"Bearer {KEY}"}
        assert scan_for_key(run_dir) == [] and KEY not in caplog.text
        assert "BENCH_FAULT_KEY" in (run_dir / "config.yaml").read_text()


def test_connection_refused_makes_every_move_a_counted_forfeit_and_the_run_completes(
        tmp_path: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_FAULT_KEY", KEY)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    run_dir = tmp_path / "run"
    with ledger.fault("LM endpoint: connection refused (icl run)") as outcome:
        run(icl_http_cfg(f"http://127.0.0.1:{port}/v1", "llm.max_attempts=2"), run_dir=run_dir)
        records = RunDir(run_dir).read_metrics()
        outcome.lost = abs(len(records) - 2) + abs(len(RunDir(run_dir).read_games()) - 4)
        counts = totals(records)
        assert counts["moves"] > 0 and counts["forfeits"] == counts["backend_errors"] == counts["moves"]
        http = records[-1]["learner_info"]["http"]
        assert http["failed_requests"] == counts["moves"] and http["requests"] == 2 * counts["moves"]
        assert scan_for_key(run_dir) == []

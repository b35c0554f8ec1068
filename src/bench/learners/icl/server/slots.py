"""Slots, as llama.cpp's `--parallel`: worker processes (spawned), each with its own copy of the model on its own torch
threads, taking jobs from one shared queue; the HTTP threads block on `Slots.submit` until a slot answers."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import queue
import signal
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.learners.icl.server.completion import complete
from bench.learners.icl.server.protocol import RequestError


def _slot_main(folder: str, threads: int, jobs: Any, results: Any) -> None:
    """A slot process: load the model on `threads` torch threads, then run jobs until told to stop (None) or until
    the server process is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the server stops the slots
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        import torch

        torch.set_num_threads(threads)
        from bench.learners.icl.embedded import load_model

        lm, tokenizer, _ = load_model(folder)
    except Exception as exc:  # reported as one line by the server process
        results.put((None, "failed", f"{type(exc).__name__}: {exc}"))
        return
    results.put((None, "ready", os.getpid()))
    parent = multiprocessing.parent_process()
    while True:
        try:
            item = jobs.get(timeout=1.0)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                return
            continue
        if item is None:
            return
        job_id, job = item
        try:
            results.put((job_id, "ok", complete(lm, tokenizer, job)))
        except RequestError as exc:
            results.put((job_id, "bad", (exc.status, str(exc))))
        except Exception as exc:  # a bug or a model fault: a 500 for this request, the slot goes on
            results.put((job_id, "error", f"{type(exc).__name__}: {exc}"))


class Slots:
    """`count` slot processes sharing one job queue; `submit` blocks its HTTP thread until a slot answers."""

    def __init__(self, folder: Path, count: int, threads: int, startup_s: float = 600.0) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.jobs, self.results = ctx.Queue(), ctx.Queue()
        self.procs = [ctx.Process(target=_slot_main, args=(str(folder), threads, self.jobs, self.results),
                                  daemon=True, name=f"slot-{i}") for i in range(count)]
        self.pending: dict[int, Future] = {}
        self.lock = threading.Lock()
        self.ids = itertools.count()
        for proc in self.procs:
            proc.start()
        try:
            self._wait_ready(folder, startup_s)
        except BaseException:
            self.close(wait_s=2)
            raise
        self.dispatcher = threading.Thread(target=self._dispatch, daemon=True, name="slot-results")
        self.dispatcher.start()

    def _wait_ready(self, folder: Path, startup_s: float) -> None:
        deadline, ready = time.monotonic() + startup_s, 0
        while ready < len(self.procs):
            try:
                _, status, payload = self.results.get(timeout=1.0)
            except queue.Empty:
                if any(p.exitcode is not None for p in self.procs):
                    raise BenchError(f"--model {folder}: a slot process exited while loading the model") from None
                if time.monotonic() > deadline:
                    raise BenchError(f"--model {folder}: the slots did not load within {startup_s:.0f} s") from None
                continue
            if status == "failed":
                raise BenchError(f"--model {folder}: the model did not load ({' '.join(str(payload).split())})")
            ready += 1

    def _dispatch(self) -> None:
        while True:
            item = self.results.get()
            if item is None:
                return
            job_id, status, payload = item
            with self.lock:
                future = self.pending.pop(job_id, None)
            if future is not None:
                future.set_result((status, payload))

    def submit(self, job: dict[str, Any]) -> dict[str, Any]:
        """The slot's result for `job`; RequestError for a request it refused or a slot that failed."""
        future: Future = Future()
        with self.lock:
            job_id = next(self.ids)
            self.pending[job_id] = future
        self.jobs.put((job_id, job))
        while True:
            try:
                status, payload = future.result(timeout=1.0)
                break
            except FutureTimeout:
                if all(p.exitcode is not None for p in self.procs):
                    raise RequestError(503, "every slot process has exited; restart the server") from None
        if status == "ok":
            return payload
        if status == "bad":
            raise RequestError(*payload)
        raise RequestError(500, f"the slot failed on this request: {payload}")

    def close(self, wait_s: float = 10.0) -> None:
        """Ask every slot to stop, wait up to `wait_s` for each, then terminate what is left."""
        for _ in self.procs:
            self.jobs.put(None)
        for proc in self.procs:
            proc.join(timeout=wait_s)
            if proc.exitcode is None:
                proc.terminate()
                proc.join()
        self.results.put(None)
        for q in (self.jobs, self.results):
            q.cancel_join_thread()  # what nobody will read must not hold up this process's exit

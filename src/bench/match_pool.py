"""Numbered tasks in forked worker processes: how `bench.games.play_match` gets past one interpreter.

Each game of a match is mostly Python (python-chess's board, the players, UCI I/O), so games in threads queue for
one interpreter: on 2 cores, 2 threads gave 1.35x the games of 1. A forked process per concurrent game runs its
own interpreter. Fork (not spawn) because the tasks' state is built from closures the caller already holds (a
learner's `make_player`, which snapshots a network) and that cannot be pickled; the child inherits them.

What a child inherits and what it must not use:
- memory, copy-on-write: a network's weights are shared until written;
- no threads: python-chess engines, tqdm's monitor, Ray's threads stay in the parent, so every resource a task
  uses is opened in the child (players are built there, from the factories);
- no CUDA: a process that has initialised CUDA cannot fork children that use it, so callers check
  `fork_safe()` and fall back to threads;
- torch's thread pool is set to 1 thread per child (`concurrency` children, one core each, no oversubscription).

A child dies with its parent (PR_SET_PDEATHSIG): a killed run leaves no worker behind, and each worker's engines
quit when their stdin closes.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import multiprocessing.connection
import os
import pickle
import signal
import sys
import time
import traceback
from typing import Any, Callable, Generic, TypeVar

from bench.errors import BenchError

S = TypeVar("S")
R = TypeVar("R")

PR_SET_PDEATHSIG = 1
JOIN_SECONDS = 10.0
"""How long a finished worker may take to close its engines before it is terminated."""


def fork_available() -> bool:
    """Fork is Linux-only here (macOS can fork, but its system libraries are not safe to use after fork)."""
    return sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods()


def cuda_initialised() -> bool:
    """Whether this process has started CUDA (then forked children cannot use it). Never imports torch."""
    torch = sys.modules.get("torch")
    try:
        return bool(torch is not None and torch.cuda.is_initialized())
    except Exception:  # a torch without CUDA support
        return False


def fork_safe() -> str | None:
    """None when tasks may run in forked processes, else the reason they may not."""
    if not fork_available():
        return f"no safe fork on {sys.platform}"
    if cuda_initialised():
        return "this process has initialised CUDA (forked children could not use it)"
    return None


class _Failure:
    """An exception from a child, pickled with its traceback text; rebuilt in the parent."""

    def __init__(self, exc: BaseException, where: str) -> None:
        self.where = where
        self.trace = "".join(traceback.format_exception(exc))
        try:
            self.blob = pickle.dumps(exc)
            pickle.loads(self.blob)  # an exception whose __init__ cannot be replayed from its args
        except Exception:
            self.blob = pickle.dumps(BenchError(f"{type(exc).__name__}: {exc}"))

    def exception(self) -> BaseException:
        exc = pickle.loads(self.blob)
        exc.add_note(f"raised in {self.where}:\n{self.trace}")
        return exc


def settle_threads(limit: float = 2.0, still: float = 0.1) -> None:
    """Wait until this process's OS threads have stopped coming and going (unchanged for `still` seconds, at most
    `limit`). A thread that is ending while we fork can hold a lock of a native runtime, which then never opens in
    the child: seen as a child spinning in MKL's allocator (`mm_account_ptr_by_tid`) when torch had just run in
    threads that had finished at Python level but whose OpenMP/MKL teardown was still running."""
    try:
        count = len(os.listdir("/proc/self/task"))
    except OSError:
        return
    now = time.monotonic()
    deadline, since = now + limit, now
    while (now := time.monotonic()) < deadline and now - since < still:
        time.sleep(0.01)
        seen = len(os.listdir("/proc/self/task"))
        if seen != count:
            count, since = seen, time.monotonic()


def _child_setup(parent: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it ends the workers
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    else:  # read by torch (OpenMP, MKL) if a task imports it later
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"


def _serve(conn: Any, inherited: list[Any], parent: int, start: Callable[[], Any], work: Callable[[Any, int], Any],
           stop: Callable[[Any], None]) -> None:
    """A child: build the state, then run the task numbers the parent sends until it sends None."""
    for other in inherited:  # the parent's ends of earlier workers' pipes
        other.close()
    _child_setup(parent)
    state, task = None, None
    try:
        state = start()
        conn.send(("ready", None, None))
        while (task := conn.recv()) is not None:
            result = work(state, task)
            conn.send(("done", task, result))
            task = None
    except EOFError:  # the parent is gone
        pass
    except BaseException as exc:
        where = f"{mp.current_process().name} (pid {os.getpid()})" + (f", task {task}" if task is not None else "")
        try:
            conn.send(("error", task, _Failure(exc, where)))
        except Exception:
            pass
    finally:
        if state is not None:
            stop(state)
        conn.close()


class ForkPool(Generic[S, R]):
    """Runs tasks 0..n-1 on `processes` forked workers, each holding one state built by `start()` in the child.

    Tasks go out in ascending order to whichever worker is free, and each result reaches `on_result(task,
    result)` in this process the moment its worker sends it. The first error (a task's exception, `on_result`'s,
    a worker that dies) stops the pool: no task is handed out after it, workers still busy are terminated (their
    results are lost), and the error is raised with the child's traceback as a note.
    """

    def __init__(self, processes: int, start: Callable[[], S], work: Callable[[S, int], R],
                 stop: Callable[[S], None], name: str = "worker") -> None:
        reason = fork_safe()
        if reason:
            raise BenchError(f"cannot run {name}s in processes: {reason}")
        self.processes = max(1, processes)
        self.start, self.work, self.stop, self.name = start, work, stop, name

    def run(self, tasks: int, on_result: Callable[[int, R], None]) -> None:
        ctx = mp.get_context("fork")
        procs: list[Any] = []
        pipes: list[Any] = []
        busy: dict[Any, tuple[Any, int | None]] = {}
        """Parent end of each live worker's pipe -> (its process, the task it is running)."""
        failure: BaseException | None = None
        try:
            settle_threads()
            for i in range(min(self.processes, tasks)):
                ours, theirs = ctx.Pipe()
                proc = ctx.Process(target=_serve, name=f"{self.name}-{i}",  # not daemonic: a task may fork too
                                   args=(theirs, list(pipes), os.getpid(), self.start, self.work, self.stop))
                proc.start()
                theirs.close()
                procs.append(proc)
                pipes.append(ours)
                busy[ours] = (proc, None)
            next_task = 0
            while busy and failure is None:
                for conn in multiprocessing.connection.wait(list(busy)):
                    proc, task = busy[conn]
                    try:
                        kind, done, payload = conn.recv()
                    except (EOFError, OSError):
                        del busy[conn]
                        failure = failure or self._died(proc, task)
                        continue
                    if kind == "error":
                        del busy[conn]
                        failure = failure or payload.exception()
                        continue
                    if kind == "done" and failure is None:
                        try:
                            on_result(done, payload)
                        except BaseException as exc:
                            failure = exc
                    give = next_task if failure is None and next_task < tasks else None
                    try:
                        conn.send(give)
                    except OSError:
                        del busy[conn]
                        failure = failure or self._died(proc, None)
                        continue
                    if give is None:
                        del busy[conn]
                    else:
                        busy[conn] = (proc, give)
                        next_task += 1
        except BaseException as exc:
            failure = failure or exc
        finally:
            _end(procs, graceful=failure is None)
            for conn in pipes:
                conn.close()
        if failure is not None:
            raise failure

    def _died(self, proc: Any, task: int | None) -> BenchError:
        proc.join(1.0)
        during = f" during task {task}" if task is not None else ""
        return BenchError(f"{self.name} process {proc.name} died (exit code {proc.exitcode}){during}")


def _end(procs: list[Any], graceful: bool) -> None:
    """Join the workers (after an error, terminate them at once): none outlives `ForkPool.run`."""
    for proc in procs:
        if graceful:
            proc.join(JOIN_SECONDS)
        if proc.is_alive():
            proc.terminate()
            proc.join(JOIN_SECONDS)
        if proc.is_alive():
            proc.kill()
            proc.join()

"""Soak: concurrent evaluations of several checkpoints against the ladder, every core busy, for 10 minutes.

A small learner (mcts by default) is trained briefly and checkpointed several times (real checkpoint files,
written and loaded by bench.results). Then one evaluation thread per core evaluates those checkpoints round-robin
against the quick ladder until the time is up, each evaluation a full `bench.evaluate.evaluate` (bracketing
rungs, adjudication, engines started and closed). Printed: evaluations and games done, this process's RSS at the
start (after every thread finished its first evaluation, so caches are warm), every minute and at the end, and
the Stockfish processes alive before and after. It stops by itself: no evaluation starts after the deadline, and
a watchdog ends the process if the last ones have not finished two minutes later. Exit code 1 when an engine
process leaked or the RSS grew by more than --max-growth-mb.

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--learner mcts] [--checkpoints 4] [--threads 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def rss_mb() -> float:
    """Resident set size of this process, MiB (from /proc: no dependency)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def engine_processes() -> list[int]:
    """Live Stockfish processes started by this process (children, and orphans that still carry its tag)."""
    tag = f"BENCH_SOAK_TAG={os.getpid()}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            name = (entry / "comm").read_text().strip()
            if "stockfish" in name and tag in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


LEARNER_OVERRIDES = {
    "mcts": ["learner.blocks=1", "learner.channels=16", "learner.simulations=8", "learner.fast_simulations=4",
             "learner.eval_simulations=8", "learner.games_per_worker=8", "learner.moves_per_improve=4",
             "learner.max_plies=40", "learner.min_replay=64", "learner.batch_size=64", "learner.in_process=true",
             "runtime.workers=1"],
    "random": [],
}


def make_checkpoints(learner_name: str, count: int, improves: int, folder: Path) -> tuple[Any, list[Path]]:
    """Train briefly and write `count` checkpoints, `improves` learning units apart."""
    from bench.cli import compose_or_exit
    from bench.compute import ComputeMeter
    from bench.learners import learner_class
    from bench.results import save_checkpoint

    cfg = compose_or_exit([f"learner={learner_name}", "ladder=quick", "eval=quick", "progress=false",
                           *LEARNER_OVERRIDES.get(learner_name, [])])
    learner = learner_class(learner_name)(cfg.learner, context(cfg, ComputeMeter()))
    paths = []
    try:
        for k in range(count):
            for _ in range(improves if k else 0):
                learner.improve()
            path = folder / f"checkpoint-{k}.pt"
            save_checkpoint(path, {"learner": learner.state_dict()})
            paths.append(path)
    finally:
        learner.close()
    return cfg, paths


def context(cfg: Any, meter: Any) -> Any:
    from bench.learners import LearnerContext

    return LearnerContext(meter=meter, seed=0, runtime=cfg.runtime, stockfish=cfg.stockfish,
                          rungs=list(cfg.ladder.rungs), llm=cfg.get("llm"), progress=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--learner", default="mcts", choices=sorted(LEARNER_OVERRIDES))
    parser.add_argument("--checkpoints", type=int, default=4)
    parser.add_argument("--improves", type=int, default=3, help="learning units between checkpoints")
    parser.add_argument("--threads", type=int, default=0, help="concurrent evaluations (0: the machine's cores)")
    parser.add_argument("--games", type=int, default=4, help="games per evaluation (even)")
    parser.add_argument("--max-growth-mb", type=float, default=64.0)
    args = parser.parse_args()

    os.environ["BENCH_SOAK_TAG"] = str(os.getpid())  # inherited by every engine: the leak count finds orphans too
    import torch

    torch.set_num_threads(1)
    from bench.compute import ComputeMeter
    from bench.evaluate import evaluate
    from bench.games import GameRules
    from bench.ladder import load_calibration, rungs_from_config
    from bench.learners import learner_class
    from bench.results import load_checkpoint

    threads = args.threads or len(os.sched_getaffinity(0))
    engines_before = len(engine_processes())
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        start_setup = time.perf_counter()
        cfg, paths = make_checkpoints(args.learner, args.checkpoints, args.improves, Path(tmp))
        cfg.eval.games = args.games
        rungs = rungs_from_config(cfg.ladder)
        calibration = load_calibration(cfg.ladder, rungs)
        rules = GameRules.from_config(cfg.eval)
        learners = []
        for path in paths:  # each checkpoint loaded from its file, as bench.uci or a resumed run would
            learner = learner_class(args.learner)(cfg.learner, context(cfg, ComputeMeter()))
            learner.load_state_dict(load_checkpoint(path)["learner"])
            learners.append(learner)
        print(f"soak: {len(paths)} {args.learner} checkpoints ready in {time.perf_counter() - start_setup:.0f}s; "
              f"{threads} concurrent evaluations of {args.games} games for {args.minutes:g} min", flush=True)

        deadline = time.monotonic() + args.minutes * 60
        watchdog = threading.Timer(args.minutes * 60 + 120, lambda: (print("soak: watchdog: evaluations did not "
                                                                            "finish; exiting", flush=True),
                                                                      os._exit(3)))
        watchdog.daemon = True
        watchdog.start()
        lock = threading.Lock()
        done = {"evaluations": 0, "games": 0, "restarts": 0, "errors": 0}
        warm = threading.Barrier(threads + 1)
        samples: list[tuple[float, float]] = []

        def worker(index: int) -> None:
            first = True
            n = index
            while first or time.monotonic() < deadline:
                learner = learners[n % len(learners)]
                try:
                    result = evaluate(learner.make_player, f"ckpt{n % len(learners)}", rungs, calibration, cfg.eval,
                                      rules, cfg.stockfish, None, seed=n, progress=False, concurrency=1)
                    with lock:
                        done["evaluations"] += 1
                        done["games"] += len(result.games)
                        done["restarts"] += result.match.engine_restarts
                except Exception as exc:  # counted and printed; the soak goes on
                    with lock:
                        done["errors"] += 1
                    print(f"soak: evaluation failed: {type(exc).__name__}: {exc}", flush=True)
                n += threads
                if first:
                    first = False
                    warm.wait()

        pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
        t0 = time.monotonic()
        for thread in pool:
            thread.start()
        warm.wait()
        rss_start = rss_mb()
        samples.append((time.monotonic() - t0, rss_start))
        print(f"soak: warm after {time.monotonic() - t0:.0f}s: RSS {rss_start:.1f} MiB, "
              f"{len(engine_processes())} engine processes running", flush=True)
        next_report = time.monotonic() + 60
        while any(t.is_alive() for t in pool):
            time.sleep(1)
            if time.monotonic() >= next_report:
                next_report += 60
                samples.append((time.monotonic() - t0, rss_mb()))
                with lock:
                    print(f"soak: {samples[-1][0] / 60:4.1f} min  RSS {samples[-1][1]:.1f} MiB  evaluations "
                          f"{done['evaluations']}  games {done['games']}  engines {len(engine_processes())}",
                          flush=True)
        watchdog.cancel()
        elapsed = time.monotonic() - t0
        for learner in learners:
            learner.close()
    time.sleep(1)  # engines closed by their matches exit asynchronously
    rss_end = rss_mb()
    engines_after = len(engine_processes())
    peak = max([s[1] for s in samples] + [rss_end])
    print(f"evaluations: {done['evaluations']}  games: {done['games']} ({done['games'] / elapsed * 60:.1f}/min)  "
          f"engine restarts: {done['restarts']}  failed evaluations: {done['errors']}  elapsed: {elapsed:.0f}s")
    print(f"RSS: start {rss_start:.1f} MiB  end {rss_end:.1f} MiB  peak {peak:.1f} MiB  "
          f"growth {rss_end - rss_start:+.1f} MiB (limit {args.max_growth_mb:g})")
    print(f"engine processes: before {engines_before}  after {engines_after}")
    leaked = engines_after > engines_before
    grew = rss_end - rss_start > args.max_growth_mb
    print("soak: " + ("FAILED: " + ", ".join(w for w, bad in (("engine processes leaked", leaked),
                                                               ("memory grew", grew),
                                                               ("evaluations failed", done["errors"] > 0)) if bad)
                      if leaked or grew or done["errors"] else "ok: memory flat, no engine process left"))
    return 1 if leaked or grew or done["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())

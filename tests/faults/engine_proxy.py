"""A UCI engine that is real Stockfish until it misbehaves once: `python engine_proxy.py STOCKFISH STATE MODE AT`.

Lines pass through unchanged both ways. The AT-th `go` counted over every proxy sharing the STATE file (an
flock-guarded counter, so exactly one search in the whole run misbehaves) triggers MODE:
- `die`: the engine process exits at once (as if killed or crashed);
- `hang`: it stops reading and answering (no `bestmove` ever comes, `quit` is ignored);
- `garbage`: it answers junk lines and `bestmove z9z9` (not a move) instead of its search's result.
Only the standard library is imported, so the proxy starts in milliseconds.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time


def next_go(state: str) -> int:
    """Increment the shared counter of `go` commands and return its new value."""
    with open(state, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        count = int(handle.read().strip() or 0) + 1
        handle.seek(0)
        handle.truncate()
        handle.write(str(count))
        handle.flush()
        return count


def main() -> None:
    binary, state, mode, at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    engine = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    garbling = threading.Event()
    out_lock = threading.Lock()

    def pump() -> None:
        for line in engine.stdout:  # type: ignore[union-attr]
            if garbling.is_set() and line.startswith("bestmove"):
                garbling.clear()
                line = "bestmove z9z9\n"
            with out_lock:
                sys.stdout.write(line)
                sys.stdout.flush()
        os._exit(0)  # the engine quit: so does the proxy

    threading.Thread(target=pump, daemon=True).start()
    for line in sys.stdin:
        if line.startswith("go") and next_go(state) == at:
            if mode == "die":
                os._exit(1)
            if mode == "hang":
                while True:
                    time.sleep(3600)
            if mode == "garbage":
                garbling.set()
                with out_lock:
                    sys.stdout.write("info string \x00\x7f??? nonsense 12 e2e4e5\nreadyok maybe\n")
                    sys.stdout.flush()
        engine.stdin.write(line)  # type: ignore[union-attr]
        engine.stdin.flush()  # type: ignore[union-attr]
    engine.stdin.close()  # type: ignore[union-attr]
    engine.wait()


if __name__ == "__main__":
    main()

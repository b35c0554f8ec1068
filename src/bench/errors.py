"""The one exception type the harness turns into a single clear line and exit code 2."""

from __future__ import annotations


class BenchError(Exception):
    """A problem the user can fix: bad config, missing file, missing engine.

    The message names the problem and the fix in one line; the CLI prints it without a traceback.
    """

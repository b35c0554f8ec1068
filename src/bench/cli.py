"""What every entry point shares: config registration and the one-line error policy.

A `BenchError` (bad config, missing file, missing engine) prints one line and exits with code 2; Hydra's own
config errors (unknown group option, unknown key) exit with code 2 too. Nothing already written is removed;
a run directory left empty by a failure before its first record is removed.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

from bench.config import CONF_DIR, register_configs
from bench.errors import BenchError

CONFIG_PATH = str(CONF_DIR)
OVERRIDES = "overrides.yaml"
"""In a run directory: every invocation that started or resumed the run (time, command, overrides)."""


def register() -> None:
    register_configs()


def guarded(call: Callable[[], Any], hydra_app: bool = False) -> Any:
    """Run `call`; a BenchError or a config error becomes one line on stderr and exit code 2.

    For the Hydra app, HYDRA_FULL_ERROR=1 makes Hydra re-raise config errors (a yaml file that does not parse,
    an unknown key) instead of printing its own trimmed traceback, so they reach this one-line policy. Any other
    exception is a bug and keeps its traceback.
    """
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException
    from yaml import YAMLError

    if hydra_app:
        os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        return call()
    except BenchError as exc:
        _remove_empty_output_dir()
        print(f"bench: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except (HydraException, OmegaConfBaseException, YAMLError) as exc:
        print(f"bench: config error: {config_error_line(exc)}", file=sys.stderr)
        sys.exit(2)
    except ValueError as exc:
        if not raised_by_config_library(exc):
            raise
        print(f"bench: config error: {config_error_line(exc)}", file=sys.stderr)  # e.g. `learner=0`
        sys.exit(2)
    except KeyboardInterrupt:
        print("bench: interrupted; finished records are kept (resume=true run_dir=... continues)", file=sys.stderr)
        sys.exit(130)


def raised_by_config_library(exc: BaseException) -> bool:
    """True when `exc` comes from Hydra or OmegaConf themselves (a bad override they reject with a ValueError,
    such as a config group given a number); a ValueError from bench's own code is a bug and keeps its traceback."""
    tb = exc.__traceback__
    module = ""
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        tb = tb.tb_next
    return module.split(".")[0] in ("hydra", "omegaconf")


def _remove_empty_output_dir() -> None:
    try:
        from hydra.core.hydra_config import HydraConfig

        out = Path(HydraConfig.get().runtime.output_dir)
    except Exception:
        return
    for handler in list(logging.getLogger().handlers):
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename).parent == out:
            logging.getLogger().removeHandler(handler)
            handler.close()
    if out.is_dir() and not any(p for p in out.iterdir() if p.name not in ("run.log", "config.yaml", OVERRIDES)):
        for p in out.iterdir():
            p.unlink()
        out.rmdir()


def redact(override: str) -> str:
    """`key=<redacted>` for an override whose key names a secret (api_key, password, secret, token); keys ending
    in `_env` name an environment variable, not a secret, and are kept."""
    key, sep, _ = override.partition("=")
    last = key.lstrip("+~").rsplit(".", 1)[-1].lower()
    secret = any(word in last for word in ("api_key", "apikey", "password", "secret")) or last.endswith("token")
    return f"{key}=<redacted>" if sep and secret and not last.endswith("_env") else override


def record_overrides(run_dir: str | Path, overrides: list[str], resume: bool) -> None:
    """Append this invocation (time, command line, Hydra overrides) to `<run_dir>/overrides.yaml`.

    Skipped when the run itself will refuse to start (a fresh run into a directory that already holds one, or a
    resume of a directory that does not exist), so another run's record is never touched.
    """
    import time

    import yaml

    from bench.results import CHECKPOINT, GAMES, METRICS, atomic_write_bytes

    path = Path(run_dir)
    holds_run = any((path / name).exists() for name in (METRICS, CHECKPOINT, GAMES))
    if (resume and not path.is_dir()) or (not resume and holds_run):
        return
    path.mkdir(parents=True, exist_ok=True)
    target = path / OVERRIDES
    entries = []
    if target.is_file():
        try:
            entries = list(yaml.safe_load(target.read_text()) or [])
        except yaml.YAMLError:
            entries = []
    command = " ".join([Path(sys.argv[0]).name if sys.argv else "bench"] + [redact(a) for a in sys.argv[1:]])
    entries.append({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "resume": resume, "command": command,
                    "overrides": [redact(str(o)) for o in overrides]})
    atomic_write_bytes(target, yaml.safe_dump(entries, sort_keys=False).encode())


def announce(cfg: Any, result: dict[str, Any]) -> float:
    """Print the final Elo and where the records are; after a single run, write and print its HTML report."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    low_high, given_ladder = result["elo_ci"], result.get("elo_ci_games")
    if low_high:
        games = f"; given the ladder [{given_ladder[0]:.0f}, {given_ladder[1]:.0f}]" if given_ladder else ""
        print(f"Elo {result['elo']:.0f} [{low_high[0]:.0f}, {low_high[1]:.0f}] (95%, absolute{games}) "
              f"under rules {result.get('rules')}")
    else:
        print("no evaluation recorded")
    run_dir = result["run_dir"]
    print(f"records: {run_dir}/metrics.jsonl (games: {run_dir}/games.pgn)")
    if cfg.report and HydraConfig.get().mode != RunMode.MULTIRUN:
        from bench.report.build import build_report

        report = guarded(lambda: build_report([run_dir], f"{run_dir}/report"))
        print(f"report: {report.index}")
    return float(result["elo"])


def compose_or_exit(overrides: list[str]) -> Any:
    """Compose conf/config.yaml with command-line overrides, without Hydra's run directory (for tools such as
    calibrate and uci); a config error is one line and exit code 2."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException
    from yaml import YAMLError

    register()
    try:
        with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
            return compose(config_name="config", overrides=overrides)
    except (HydraException, OmegaConfBaseException, ValueError, YAMLError) as exc:
        print(f"bench: config error: {config_error_line(exc)}", file=sys.stderr)
        sys.exit(2)


def config_error_line(exc: BaseException) -> str:
    """Hydra's message and its cause on one line, without the config search path listing."""
    message = str(exc).split("Config search path")[0]
    cause = exc.__cause__
    if cause is not None and str(cause).strip():
        message += ": " + str(cause).strip().splitlines()[0]
    message = re.sub(r"\bbase_\w+\s*", "", message)  # schema nodes are not options a user picks
    return " ".join(message.split()).rstrip(":")

"""Every switch the README names works as written: each `key=value` it shows in backticks, and each `bench`
command line in its code blocks, composes with the config; the runnable command lines run on a tiny budget (slow).

Placeholders (`<timestamp>`, `…`, `N`), make and environment variables (`LEARNER=icl`, `CC=false`), pip
requirements and `bench-report --set` settings (checked against conf/report.yaml) are told apart from config
overrides; a switch of a learner's own fields (`learner.simulations=...`, or in prose `memory=lora`) must compose
with one of the registered learners.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typing import Any, Callable, Iterator

import pytest
import yaml

from bench.config import CONF_DIR
from tests.conftest import TINY, compose_config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
from bench.learners import LEARNERS  # noqa: E402 (every registered learner may own a switch)
PLACEHOLDER = re.compile(r"[<>…]|\.\.\.|^N$|^P$")
OVERRIDE = re.compile(r"^[+~]{0,2}[a-z_][\w./@-]*=\S+$")
NOT_CONFIG = {"reuse", "weights_only"}
"""Arguments of other tools that look like overrides (`python -m bench.calibrate ... reuse=<file>`)."""
HYDRA_GROUPS = ("hydra/launcher", "hydra/sweeper")


def report_settings() -> set[str]:
    """The `bench-report --set` keys: conf/report.yaml's fields (a file beside config.yaml, not a group, so that
    `report=false` stays a plain bool override of the run's config)."""
    return set(yaml.safe_load((CONF_DIR / "report.yaml").read_text()) or {})


def inline_switches() -> list[str]:
    """`key=value` tokens in the README's backticked spans (prose and tables), placeholders left out."""
    found: dict[str, None] = {}
    for span in re.findall(r"`([^`\n]+)`", README):
        if "(" in span:  # a Python call, not a command line
            continue
        for token in span.split():
            token = token.strip("'\",;)")
            key, _, value = token.partition("=")
            if not OVERRIDE.match(token) or PLACEHOLDER.search(value) or "==" in token or key in NOT_CONFIG:
                continue
            found[f"{key}={value.split(',')[0]}" if "," in value and "[" not in value else token] = None
    return list(found)


def command_lines() -> list[str]:
    """Every `python -m bench` / `bench` invocation in the README's bash blocks (continuations joined)."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if re.search(r"(^|\s)(\S*/)?(python -m bench|bench)(\s|$)", line) and "bench.report" not in line \
                    and not line.startswith("make"):
                lines.append(line)
    return lines


def overrides_of(line: str) -> list[str] | None:
    """The config overrides of a command line (sweep lists cut to their first value); None when it has a
    placeholder that only a real run fills (`run_dir=results/mcts/<timestamp>`, `...`)."""
    words = shlex.split(line)
    start = next(i for i, w in enumerate(words) if w == "bench" or w.endswith("/bench") or w == "-m" and
                 i + 1 < len(words) and words[i + 1] == "bench")
    out = []
    for word in words[start + 1:]:
        if word in ("-m", "--multirun", "bench", "...", "…"):
            continue
        if PLACEHOLDER.search(word.partition("=")[2]) or word == "...":
            return None
        if OVERRIDE.match(word):
            key, _, value = word.partition("=")
            out.append(f"{key}={value.split(',')[0]}" if "," in value and "[" not in value else word)
    return out


@pytest.fixture(scope="module")
def compose() -> Iterator[Callable[[list[str]], Any]]:
    """Hydra's compose inside one initialised context for the whole module (re-initialising costs seconds)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from bench.cli import CONFIG_PATH, register

    register()
    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        yield lambda overrides: hydra_compose(config_name="config", overrides=overrides)


def composes(compose: Callable[[list[str]], Any], overrides: list[str]) -> str | None:
    """None when `overrides` compose (with a learner that has the fields they name), else the last error."""
    hydra = [o for o in overrides if o.split("=")[0].lstrip("+") in HYDRA_GROUPS]
    for override in hydra:  # a launcher or sweeper: its yaml must exist (the plugin is an extra)
        group, _, name = override.lstrip("+").partition("=")
        if not (CONF_DIR / group.split("/", 1)[0] / group.split("/", 1)[1] / f"{name}.yaml").is_file():
            return f"{override}: no such file under conf/{group}"
    rest = [o for o in overrides if o not in hydra and not o.startswith("hydra.")]
    tries = [[]] if any(o.startswith("learner=") for o in rest) else [[]] + [[f"learner={n}"] for n in LEARNERS]
    error = None
    for extra in tries:
        try:
            compose([*TINY, *extra, *rest])
            return None
        except Exception as exc:  # noqa: BLE001 (the message is the test's output)
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return error


PENDING: dict[str, str] = {}
"""Documented switches that fail today, each with what fixes it; strict: the test fails once they work, so the
entry is removed then."""

SWITCHES = [pytest.param(s, marks=pytest.mark.xfail(reason=PENDING[s], strict=True)) if s in PENDING else s
            for s in inline_switches()]


def test_the_readme_names_switches() -> None:
    assert len(SWITCHES) > 20 and len(command_lines()) > 5
    assert set(PENDING) <= set(inline_switches())


@pytest.mark.parametrize("switch", SWITCHES)
def test_every_switch_the_readme_names_composes(switch: str, compose: Callable[[list[str]], Any]) -> None:
    key = switch.partition("=")[0]
    if key.isupper() or key.startswith(("TORCH", "LEARNER", "ARGS")):
        pytest.skip("a make or environment variable")
    if key in report_settings():
        return  # a bench-report --set setting, and it exists
    error = composes(compose, [switch])
    if error is not None and "." not in key and not key.startswith(("+", "~")):
        error = composes(compose, [f"learner.{switch}"])  # prose shorthand for a learner's field: `memory=lora`
    assert error is None, f"README switch `{switch}`: {error}"


@pytest.mark.parametrize("line", command_lines())
def test_every_bench_command_line_in_the_readme_composes(line: str, compose: Callable[[list[str]], Any]) -> None:
    overrides = overrides_of(line)
    if overrides is None:
        pytest.skip("needs a value from a real run (a placeholder)")
    error = composes(compose, overrides)
    assert error is None, f"README command `{line}`: {error}"


def test_every_rung_the_readme_serves_exists(compose: Callable[[list[str]], Any]) -> None:
    """`bench-uci rung=NAME` lines name a rung of the ladder they use (the default unless `ladder=` says)."""
    from bench.ladder import rungs_from_config

    found = 0
    for line in README.splitlines():
        line = line.split("  #")[0]  # not the comment
        for rung in re.findall(r"rung=([\w-]+)", line):
            ladder = (re.findall(r"ladder=(\w+)", line) or ["default"])[0]
            names = {r.name for r in rungs_from_config(compose([f"ladder={ladder}"]).ladder)}
            assert rung in names, f"README: rung {rung!r} is not in ladder {ladder} ({', '.join(sorted(names))})"
            found += 1
    assert found >= 3


RUNNABLE = [line for line in command_lines() if "-m " not in line.split("bench", 1)[1][:4]
            and "llm=openai" not in line and overrides_of(line) is not None]
"""Single runs that need no server: run for real on a tiny budget."""


@pytest.mark.slow
@pytest.mark.parametrize("line", RUNNABLE)
def test_every_runnable_command_line_runs_on_a_tiny_budget(line: str, tmp_path: Path) -> None:
    from bench.run import run

    tiny = ["budget.evals=1", "budget.eval_at_start=false", "eval.games=2"]
    cfg = compose_config([*TINY, *overrides_of(line), *tiny])
    cfg.budget.amount = min(float(cfg.budget.amount), {"positions": 256, "tasks": 4, "games": 2}.get(
        str(cfg.budget.unit), float(cfg.budget.amount)))
    if cfg.budget.points:
        cfg.budget.points = [cfg.budget.amount]
    result = run(cfg, run_dir=tmp_path / "run")
    assert (tmp_path / "run" / "metrics.jsonl").is_file() and result["elo"] == result["elo"]

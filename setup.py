"""What pyproject.toml cannot say: the optional C extension and the packaged copy of `conf/`.

- `bench._movegen` (legal move generation and the PUCT argmax) is built when a C compiler works and skipped with
  one warning when it does not (`CC=false pip install .` shows it): python-chess then generates the moves, with
  the same results, about 3x slower in search. -ffp-contract=off: no fused multiply-add, so `puct_select` rounds
  exactly as numpy does.
- `conf/` stays at the top of the repository (the Hydra config folder a reader edits) and is installed as the
  package data `bench/conf`, so a wheel, or a Ray worker on another node, finds it (`bench.config.CONF_DIR`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import Extension, find_namespace_packages, setup
from setuptools.command.build_ext import build_ext

OPTIONAL_EXTENSION_WARNING = (
    "WARNING: bench._movegen (the C move generator) was not built ({error}); bench works without it: "
    "python-chess generates the legal moves (same moves, slower search). Install a C compiler and the Python "
    "headers (apt-get install gcc python3-dev) and reinstall to build it."
)


class OptionalBuildExt(build_ext):
    """build_ext that turns a failed compile (no compiler, no headers) into one warning instead of an error."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # setuptools raises several distutils error types here, depending on the version
            self._skip(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._skip(exc)

    def _skip(self, exc: BaseException) -> None:
        if not getattr(self, "_warned", False):
            message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            message = message if len(message) < 160 else message[:80] + " ... " + message[-60:]
            print(OPTIONAL_EXTENSION_WARNING.format(error=message), file=sys.stderr)
            self._warned = True


HERE = Path(__file__).resolve().parent
CONF_PACKAGES = ["bench.conf"] + sorted(
    "bench.conf." + ".".join(d.relative_to(HERE / "conf").parts) for d in (HERE / "conf").rglob("*")
    if d.is_dir() and "__pycache__" not in d.parts
)
CONF_FILES = ["*.yaml", "*.json", "*.gz", "*.txt", "*.epd"]

setup(
    packages=find_namespace_packages("src", include=["bench", "bench.*"]) + CONF_PACKAGES,
    package_dir={"": "src", "bench.conf": "conf"},
    package_data={name: CONF_FILES for name in CONF_PACKAGES},
    exclude_package_data={"bench": ["*.c"]},  # the extension's source is in the sdist, not the wheel
    ext_modules=[
        Extension("bench._movegen", ["src/bench/_movegen.c"], extra_compile_args=["-O2", "-ffp-contract=off"],
                  optional=True)
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)

"""Builds the one C extension, `bench._movegen` (legal move generation and the PUCT argmax); all metadata is in
pyproject.toml. -ffp-contract=off: no fused multiply-add, so `puct_select` rounds exactly as numpy does."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("bench._movegen", ["src/bench/_movegen.c"], extra_compile_args=["-O2", "-ffp-contract=off"])
    ]
)

"""Builds the one C extension, `bench._movegen` (legal move generation); all metadata is in pyproject.toml."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("bench._movegen", ["src/bench/_movegen.c"], extra_compile_args=["-O2"])])

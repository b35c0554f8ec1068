"""`python -m bench.report RUN_OR_SWEEP_DIRS... --out DIR`: from run directories to the benchmark's answer.

Data flows one way: the report reads run directories (config.yaml, metrics.jsonl, games.pgn) and the ladder's
calibration file, never a learner. Modules, in the order a reader follows them:

  loading.py   find runs under the given paths, read their records, group seeds into configurations
  series.py    per-run and per-configuration curves (Elo against a record field), compute frontiers
  scales.py    which rules and ladder calibration each run's Elo is on; each evaluation's rating and weights
  compare.py   differences that cancel the shared ladder error, power, verdict words (bench.elo underneath)
  units.py     the units learning is counted in (positions, forward passes, FLOPs), which a run recorded, and
               the outside knowledge its learning used
  claims/      thresholds, first reach, ratios, the tables beside the claims, and one small unit per seed claim
  costs.py     the seeds' cost model: tokens and FLOPs to dollars (conf/report.yaml)
  plots.py     the PNGs (matplotlib Agg)
  tables.py    tables as plain data, rendered to Markdown and HTML
  html.py      the self-contained index.html (plots embedded, every run string escaped)
  build.py     build_report(): load, compute, plot, write index.html, report.md and the PNGs
  tracking.py  optional TensorBoard / W&B (offline) mirror of metrics records, for run.py to call
"""

from bench.report.build import build_report

__all__ = ["build_report"]

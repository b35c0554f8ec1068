"""`python -m bench.report [RUN_OR_SWEEP_DIRS...] [--out DIR] [--set KEY=VALUE ...]`

Reads every run directory at or under the paths given (default `results/`), writes `index.html` (self-contained),
`report.md` and the PNGs into `--out` (default `<the single path given>/report`, else `results/report`).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from bench.cli import guarded


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.split("\n\n")[1])
    parser.add_argument("paths", nargs="*", default=["results"], help="run directories or folders holding them")
    parser.add_argument("--out", default=None, help="where to write index.html, report.md and the PNGs")
    parser.add_argument("--settings", default=None, help="report settings yaml (default conf/report.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. --set dollars_per_million_tokens=15 (repeatable)")
    parser.add_argument("--csv", default=None, metavar="FILE", help="also write one flat row per evaluation as CSV")
    parser.add_argument("--parquet", default=None, metavar="FILE", help="the same table as Parquet (needs pyarrow)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import logging

    from bench.report.build import build_report, summary_line
    from bench.report.costs import load_settings

    args = parse_args(argv)
    if args.csv or args.parquet:  # the flat table (bench.report.table), before the report
        from bench.report.table import metrics_rows, write_csv, write_parquet

        rows = metrics_rows(args.paths)
        for path, write in ((args.csv, write_csv), (args.parquet, write_parquet)):
            if path:
                print(f"table: {write(rows, path)} ({len(rows)} rows)")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    out = Path(args.out) if args.out else (Path(args.paths[0]) / "report" if len(args.paths) == 1
                                             else Path("results/report"))
    settings = load_settings(args.settings, args.overrides)
    command = "python -m bench.report " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    report = build_report(args.paths, out, settings=settings, command=command)
    print(summary_line(report))
    return 0


def cli() -> None:
    """The `bench-report` console script."""
    sys.exit(guarded(main))


if __name__ == "__main__":
    cli()

"""The self-contained index.html: inline CSS, PNGs embedded as base64, no scripts, no network.

Everything that comes from a run (paths, config strings, PGN headers, labels, model outputs) passes through
`html.escape`; links are relative paths percent-encoded, so a hostile directory name cannot become a
`javascript:` URL or break out of an attribute.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from urllib.parse import quote

from bench.report.tables import Table, to_html

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;
padding:0 1rem;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.85rem}
th,td{border:1px solid #ccc;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f3f3f3} .note{color:#555;font-size:.85rem} figure{margin:1rem 0}
figcaption{color:#444;font-size:.85rem;max-width:900px} img{max-width:100%}
pre{background:#f7f7f7;padding:.6rem;overflow:auto;font-size:.8rem;max-height:30rem}
details{margin:.3rem 0 1rem} .verdict{font-weight:600}
"""


def link(target: Path, out_dir: Path, text: str) -> str:
    """An escaped <a> to `target`, relative to the report's folder."""
    rel = os.path.relpath(target, out_dir)
    return f'<a href="{html.escape(quote(rel, safe="/"), quote=True)}">{html.escape(text)}</a>'


def figure(png: Path, caption: str) -> str:
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(png.name, quote=True)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def page(title: str, sections: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(sections) + "\n</body></html>\n")


def section(title: str, body: list[str], level: int = 2) -> str:
    return f"<section><h{level}>{html.escape(title)}</h{level}>\n" + "\n".join(body) + "</section>"


def paragraph(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def table(t: Table) -> str:
    return to_html(t)


def details(summary: str, text: str) -> str:
    return f"<details><summary>{html.escape(summary)}</summary><pre>{html.escape(text)}</pre></details>"

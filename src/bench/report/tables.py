"""Tables as plain data, rendered to Markdown (report.md) and HTML (index.html) from the same rows."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    """Sentences printed under the table (definitions, caveats)."""


def md_text(text: str) -> str:
    """Run text made inert in Markdown: HTML escaped (renderers pass raw HTML through), no line breaks."""
    return html.escape(str(text), quote=False).replace("\n", " ")


def _md_cell(text: str) -> str:
    return md_text(str(text).replace("\\", "\\\\").replace("|", "\\|"))


def to_markdown(table: Table, level: int = 3) -> str:
    lines = [f"{'#' * level} {_md_cell(table.title)}", ""]
    if table.rows:
        lines.append("| " + " | ".join(_md_cell(h) for h in table.headers) + " |")
        lines.append("|" + "---|" * len(table.headers))
        lines.extend("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows)
    else:
        lines.append("(no rows: the runs given hold no data for this table)")
    lines.extend(["", *[_md_cell(n) for n in table.notes]] if table.notes else [])
    return "\n".join(lines) + "\n"


def to_html(table: Table, level: int = 3) -> str:
    e = html.escape
    parts = [f"<h{level}>{e(table.title)}</h{level}>"]
    if table.rows:
        parts.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in table.headers) + "</tr></thead><tbody>")
        parts.extend("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in table.rows)
        parts.append("</tbody></table>")
    else:
        parts.append("<p class=note>(no rows: the runs given hold no data for this table)</p>")
    parts.extend(f"<p class=note>{e(n)}</p>" for n in table.notes)
    return "\n".join(parts)


def fmt_num(value: float | None, digits: int = 3) -> str:
    """Compact numbers: 1.23e+15 for large, 123 for small; `-` for missing; ∞ for infinite."""
    if value is None:
        return "-"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-2:
        return f"{value:.{digits}g}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def fmt_elo(elo: float, low: float, high: float, edge: str | None = None) -> str:
    bound = {"above": "≥ ", "below": "≤ "}.get((edge or "").split("_")[0], "")
    return f"{bound}{elo:.0f} [{fmt_num(low) if math.isinf(low) else f'{low:.0f}'}, " \
           f"{fmt_num(high) if math.isinf(high) else f'{high:.0f}'}]"

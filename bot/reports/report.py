"""The monthly and annual report for the joint meeting: HTML to print, and a PDF rendered by headless Chromium.

One page per responsible department (the catalog's `department`): its figures against the
previous period, the trend (by day for a month, by month for a year), the items citizens asked
about, what went to clerks and why, the questions the bot could not answer and the citizens'
comments, masked. The same period gives the same figures (bot/reports/figures.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.db import Database
from bot.reports import figures as f

TEMPLATES = Path(__file__).parent / "templates"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PDF_TIMEOUT_S = 120


def parse_period(value: str) -> tuple[f.Period, str]:
    """'2026-10' → (October 2026, 'month'); '2026' → (the year, 'year'). ValueError otherwise."""
    value = (value or "").strip()
    if len(value) == 4 and value.isdigit():
        return f.Period.year(int(value)), "year"
    parsed = datetime.strptime(value, "%Y-%m")
    return f.Period.month(parsed.year, parsed.month), "month"


def _change(now: Any, before: Any) -> str:
    """'+3' / '-0.12' / '' against the previous period."""
    if not isinstance(now, (int, float)) or not isinstance(before, (int, float)):
        return ""
    delta = now - before
    if isinstance(delta, float):
        delta = round(delta, 4)
    return f"{delta:+}" if delta else "±0"


def build(database: Database, period: f.Period, kind: str, catalog: f.Catalog | None = None) -> dict[str, Any]:
    """Everything the report shows, as data (the tests read it as well as the HTML)."""
    catalog = catalog or f.default_catalog()
    facts = f.load_facts(database, period)
    before = f.load_facts(database, period.previous())
    trend_dimension = "month" if kind == "year" else "day"
    now_by_department = f.by_department(facts, catalog)
    before_by_department = f.by_department(before, catalog)
    departments = []
    # Departments in the order of the catalog, then the conversations no item was answered in.
    order = list(dict.fromkeys(entry["department"] for entry in catalog.by_id.values())) + [f.UNKNOWN]
    for name in order:
        mine = now_by_department.get(name, [])
        if not mine:
            continue
        summary = f.summary(mine)
        previous = f.summary(before_by_department.get(name, []))
        departments.append(
            {
                "name": name if name != f.UNKNOWN else "未归入部门（未回答到具体事项）",
                "key": name,
                "summary": summary,
                "previous": previous,
                "changes": {k: _change(summary[k], previous[k]) for k in summary},
                "trend": f.breakdown(mine, trend_dimension, catalog),
                "items": f.breakdown(mine, "item", catalog)[:10],
                "questions": sorted({q.first_question for q in mine if q.first_question})[:10],
                "handoff_by_reason": [
                    {"reason": f.REASON_NAMES.get(k, k), "count": v} for k, v in summary["handoff_by_reason"].items()
                ],
                "unanswered": f.unanswered(mine)[:10],
                "comments": [
                    {"score": x.rating, "comment": x.rating_comment} for x in mine if x.rating is not None and x.rating_comment
                ],
            }
        )
    overall = f.summary(facts)
    previous = f.summary(before)
    return {
        "kind": kind,
        "title": ("年度" if kind == "year" else "月度") + "报告",
        "period": period.as_dict(),
        "previous_period": period.previous().as_dict(),
        "summary": overall,
        "previous": previous,
        "changes": {k: _change(overall[k], previous[k]) for k in overall},
        "departments": departments,
        "definitions": f.DEFINITIONS,
        "reason_names": f.REASON_NAMES,
    }


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["pct"] = lambda v: "—" if v is None else f"{v * 100:.1f}%"
    env.filters["secs"] = lambda v: "—" if v is None else (f"{v / 60:.1f} 分钟" if v >= 60 else f"{v:.0f} 秒")
    env.filters["num"] = lambda v: "—" if v is None else v
    return env


def render_html(report: dict[str, Any]) -> str:
    return _environment().get_template("report.html").render(r=report, generated=date.today().isoformat())


def render_pdf(html: str) -> bytes:
    """The HTML printed to PDF by headless Chromium (Debian's; the fonts are the machine's, e.g. WenQuanYi)."""
    binary = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not binary:
        raise RuntimeError("没有找到 chromium，无法生成 PDF。")
    with tempfile.TemporaryDirectory(prefix="report-") as workdir:
        source, target = Path(workdir) / "report.html", Path(workdir) / "report.pdf"
        source.write_text(html, encoding="utf-8")
        command = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            f"--user-data-dir={Path(workdir) / 'profile'}", "--no-pdf-header-footer", f"--print-to-pdf={target}",
            source.as_uri(),
        ]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True, timeout=PDF_TIMEOUT_S)
        return target.read_bytes()

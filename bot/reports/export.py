"""CSV export of every table of the dashboard: UTF-8 with a byte-order mark, so Excel opens Chinese text correctly."""

from __future__ import annotations

import csv
import io
from typing import Any

from bot.reports.figures import DIMENSIONS, ROW_FIGURES

BOM = "\ufeff"
# The tables a CSV can be asked for: the summary, one per breakdown, and the two lists.
TABLES = ("summary", *DIMENSIONS, "unanswered", "not_helpful_items")
HEADERS = {
    "conversations": "会话数", "citizen_messages": "群众消息数", "contained": "机器人独立解决",
    "contained_rate": "独立解决率", "handed_off": "转人工", "handoff_rate": "转人工率", "abandoned": "等待中放弃",
    "helpful": "有帮助", "not_helpful": "没帮助", "helpful_share": "有帮助占比", "ratings": "评分数",
    "average_rating": "平均评分",
}  # fmt: skip


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict):
        return "; ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return " | ".join(str(v) for v in value)
    return value


def _safe(value: Any) -> Any:
    """A text cell starting with = + - @ would be a formula in Excel (CSV injection): quoted with an apostrophe."""
    value = _cell(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def rows_of(figures: dict[str, Any], table: str) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of one table of `figures` (bot.reports.figures.compute)."""
    if table == "summary":
        return ["指标", "数值"], [[name, figures["summary"][name]] for name in figures["summary"]]
    if table in DIMENSIONS:
        header = ["key", "名称", *(HEADERS[name] for name in ROW_FIGURES)]
        return header, [[row["key"], row["label"], *(row[name] for name in ROW_FIGURES)] for row in figures["breakdowns"][table]]
    if table == "unanswered":
        return ["问题（已脱敏）", "次数", "例句（已脱敏）"], [[r["question"], r["count"], r["examples"]] for r in figures["unanswered"]]
    if table == "not_helpful_items":
        return ["事项", "名称", "没帮助次数", "原因", "例句（已脱敏）"], [
            [r["item"], r["title"], r["count"], r["reasons"], r["examples"]] for r in figures["not_helpful_items"]
        ]
    raise KeyError(table)


def to_csv(figures: dict[str, Any], table: str) -> bytes:
    header, rows = rows_of(figures, table)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_safe(value) for value in row])
    return (BOM + out.getvalue()).encode("utf-8")

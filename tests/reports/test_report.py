"""The monthly and annual report: figures per department against the hand counts, HTML, and the PDF's sections and Chinese text."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from bot.db import Database
from bot.reports import report
from bot.reports.figures import Period
from tests.desk.helpers import CHROMIUM, Clerk
from tests.reports.known_set import write_known_set
from tests.reports.test_figures import SUMMARY

# The departments in the catalog's order, then the conversations no item was answered in.
SECTIONS = ["公安局", "公安局出入境管理部门", "公证处", "未归入部门（未回答到具体事项）"]


@pytest.fixture()
def known(tmp_path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'known.db'}")
    write_known_set(database)
    return database


def test_monthly_report_has_a_section_per_department_with_its_figures(known):
    built = report.build(known, Period.month(2026, 10), "month")
    assert built["summary"] == SUMMARY
    assert [d["name"] for d in built["departments"]] == SECTIONS
    police = built["departments"][0]
    assert (police["summary"]["conversations"], police["summary"]["contained"], police["summary"]["not_helpful"]) == (2, 1, 2)
    unknown = built["departments"][3]
    assert [(h["reason"], h["count"]) for h in unknown["handoff_by_reason"]] == [
        ("机器人故障", 1), ("办件核验失败", 1), ("多次未理解", 1), ("群众要求", 1),
    ]  # fmt: skip
    assert unknown["comments"] == [{"score": 2, "comment": "等太久了，电话[号码]"}]
    exit_entry = built["departments"][1]
    # September had c12 (passport): one conversation before, four now.
    assert (exit_entry["previous"]["conversations"], exit_entry["changes"]["conversations"]) == (1, "+3")
    assert [t["key"] for t in exit_entry["trend"]] == ["2026-10-01", "2026-10-12", "2026-10-25", "2026-10-31"]
    html = report.render_html(built)
    assert html.count('<section class="department"') == len(SECTIONS)
    assert "13812345678" not in html and "known-c" not in html
    # Reproducible: the same period gives the same report.
    assert report.build(known, Period.month(2026, 10), "month") == built


def test_annual_report_trends_by_month(known):
    built = report.build(known, Period.year(2026), "year")
    assert built["summary"]["conversations"] == 13
    exit_entry = next(d for d in built["departments"] if d["key"] == "公安局出入境管理部门")
    assert [(t["key"], t["conversations"]) for t in exit_entry["trend"]] == [("2026-09", 1), ("2026-10", 4), ("2026-11", 1)]
    assert report.parse_period("2026") == (Period.year(2026), "year")
    assert report.parse_period("2026-10") == (Period.month(2026, 10), "month")
    with pytest.raises(ValueError):
        report.parse_period("October")


@pytest.mark.skipif(not Path(CHROMIUM).exists() and not shutil.which("chromium"), reason="needs Debian's chromium")
async def test_pdf_has_one_section_per_department_and_extractable_chinese(desk_without_rasa):
    from pypdf import PdfReader

    server = desk_without_rasa
    write_known_set(Database(server.config.database_url))
    supervisor = await Clerk.login(server, "督导乙", role="supervisor")
    try:
        async with supervisor.http.get(f"{server.url}/reports/report.pdf?period=2026-10") as reply:
            assert reply.status == 200
            assert reply.headers["Content-Type"] == "application/pdf"
            body = await reply.read()
        async with supervisor.http.get(f"{server.url}/reports/report?period=2026-10") as reply:
            assert reply.status == 200 and "月度报告" in await reply.text()
        async with supervisor.http.get(f"{server.url}/reports/report?period=soon") as reply:
            assert reply.status == 400
    finally:
        await supervisor.close()
    results = Path(__file__).resolve().parents[2] / "results"
    results.mkdir(exist_ok=True)
    (results / "report_2026-10.pdf").write_bytes(body)
    pages = [page.extract_text() or "" for page in PdfReader(io.BytesIO(body)).pages]
    text = "\n".join(pages)
    # Chinese text is text, not tofu or outlines: the headings and figure names come back.
    for words in ("温州华侨服务平台", "月度报告", "总体情况", "机器人独立解决", "转人工的原因", "群众评价"):
        assert words in text, words
    # Each department starts a page of its own, in order.
    firsts = [page.strip().splitlines()[0].strip() if page.strip() else "" for page in pages]
    starts = [firsts.index(name) for name in SECTIONS]
    assert starts == sorted(starts) and len(set(starts)) == len(SECTIONS)

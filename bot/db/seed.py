"""Seeds the demo cases (bot/data/seed/demo_cases.yml) into an empty database."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import yaml

from bot.db.database import Database
from bot.db.tables import Case, CaseEvent

DEMO_CASES = Path(__file__).resolve().parents[1] / "data" / "seed" / "demo_cases.yml"


def load_demo_cases(path: Path = DEMO_CASES) -> list[Case]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    cases = []
    for entry in data["cases"]:
        applicant = entry["applicant"]
        cases.append(
            Case(
                case_no=entry["case_no"].upper(),
                item_id=entry["item"],
                surname=applicant["surname"],
                given_name=applicant["given_name"],
                doc_last4=str(applicant["doc_last4"]).upper(),
                country=applicant.get("country"),
                city=applicant.get("city"),
                site=entry.get("site"),
                status=entry["status"],
                history=[
                    CaseEvent(
                        at=datetime.strptime(step["at"], "%Y-%m-%d %H:%M"), status=step["status"], note=step.get("note")
                    )
                    for step in entry["history"]
                ],
            )
        )
    return cases


def seed(database: Database, path: Path = DEMO_CASES) -> int:
    """Create the schema; add the demo cases if there are none. Returns how many were added."""
    database.create_schema()
    if database.count_cases():
        return 0
    cases = load_demo_cases(path)
    for case in cases:
        database.add_case(case)
    return len(cases)

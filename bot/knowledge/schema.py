"""Schema of the knowledge files, checked at load time.

Errors name the file and the field so that whoever edits a guide can fix it
without reading code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MATERIAL_FORMS = {"原件", "复印件", "原件及复印件"}
REMOTE_POSSIBLE = {"yes", "partly", "no"}
REMOTE_WAYS = {"proxy", "video", "mail", "online", "embassy"}
MIN_SYNONYMS = 6


class KnowledgeError(ValueError):
    """One or more knowledge files do not follow the schema."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class Problems:
    path: Path
    items: list[str] = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{self.path}: {where}: {message}")


def _text(problems: Problems, data: dict, key: str, where: str, optional: bool = False) -> None:
    value = data.get(key)
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip():
        problems.add(f"{where}{key}", "must be a non-empty string")


def _text_list(problems: Problems, data: dict, key: str, where: str, minimum: int = 1) -> None:
    value = data.get(key)
    if not isinstance(value, list) or len(value) < minimum:
        problems.add(f"{where}{key}", f"must be a list of at least {minimum} strings")
        return
    for index, entry in enumerate(value):
        if not isinstance(entry, str) or not entry.strip():
            problems.add(f"{where}{key}[{index}]", "must be a non-empty string")


def _ids(problems: Problems, data: dict, key: str, where: str, known: set[str]) -> None:
    value = data.get(key, [])
    if not isinstance(value, list):
        problems.add(f"{where}{key}", "must be a list of ids")
        return
    for entry in value:
        if entry not in known:
            problems.add(f"{where}{key}", f"unknown id {entry!r}; known: {', '.join(sorted(known))}")


def _section(problems: Problems, data: dict, key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        problems.add(key, "must be a mapping")
        return {}
    return value


def check_guide(
    path: Path,
    data: Any,
    catalog_entry: dict | None,
    site_ids: dict[str, set[str]],
) -> list[str]:
    """Return the problems of one guide (empty when it is valid)."""
    problems = Problems(path)
    if not isinstance(data, dict):
        problems.add("(top)", "must be a mapping")
        return problems.items
    if catalog_entry is None:
        problems.add("id", f"{data.get('id')!r} is not an id of catalog.yml")
    else:
        for key in ("id", "title", "category", "department"):
            if data.get(key) != catalog_entry[key]:
                problems.add(key, f"must be {catalog_entry[key]!r} as in catalog.yml, found {data.get(key)!r}")
    if catalog_entry and path.stem != catalog_entry["id"]:
        problems.add("id", f"file must be named {catalog_entry['id']}.yml")
    _text(problems, data, "scope", "")
    _text_list(problems, data, "synonyms", "", MIN_SYNONYMS)

    conditions = _section(problems, data, "conditions")
    _text(problems, conditions, "who", "conditions.")
    _text_list(problems, conditions, "requirements", "conditions.")

    materials = data.get("materials")
    if not isinstance(materials, list) or not materials:
        problems.add("materials", "must be a non-empty list")
        materials = []
    for index, material in enumerate(materials):
        where = f"materials[{index}]."
        if not isinstance(material, dict):
            problems.add(f"materials[{index}]", "must be a mapping")
            continue
        _text(problems, material, "name", where)
        if material.get("form") not in MATERIAL_FORMS:
            problems.add(f"{where}form", f"must be one of {sorted(MATERIAL_FORMS)}")
        if "copies" in material and not isinstance(material["copies"], int):
            problems.add(f"{where}copies", "must be a whole number")
        for optional in ("translation", "certification", "note"):
            _text(problems, material, optional, where, optional=True)
        unknown = set(material) - {"name", "form", "copies", "translation", "certification", "note"}
        if unknown:
            problems.add(where.rstrip("."), f"unknown fields {sorted(unknown)}")
    _text(problems, data, "proxy", "")

    time_limit = _section(problems, data, "time_limit")
    _text(problems, time_limit, "legal", "time_limit.")
    _text(problems, time_limit, "promised", "time_limit.")

    fees = data.get("fees")
    if not isinstance(fees, list) or not fees:
        problems.add("fees", "must be a non-empty list (say 免费 when free)")
        fees = []
    for index, fee in enumerate(fees):
        if not isinstance(fee, dict):
            problems.add(f"fees[{index}]", "must be a mapping")
            continue
        _text(problems, fee, "item", f"fees[{index}].")
        _text(problems, fee, "amount", f"fees[{index}].")
        _text(problems, fee, "note", f"fees[{index}].", optional=True)

    where = _section(problems, data, "where")
    _ids(problems, where, "desks", "where.", site_ids["domestic_desks"])
    _ids(problems, where, "overseas_sites", "where.", site_ids["overseas_sites"])
    _ids(problems, where, "online", "where.", site_ids["online"])
    if not where.get("desks") and not where.get("overseas_sites") and not where.get("online"):
        problems.add("where", "must name at least one desk, site or online channel")
    _text(problems, where, "note", "where.", optional=True)

    remote = _section(problems, data, "remote")
    if remote.get("possible") not in REMOTE_POSSIBLE:
        problems.add("remote.possible", f"must be one of {sorted(REMOTE_POSSIBLE)}")
    ways = remote.get("ways", [])
    if not isinstance(ways, list) or any(way not in REMOTE_WAYS for way in ways):
        problems.add("remote.ways", f"must be a list of {sorted(REMOTE_WAYS)}")
    _text(problems, remote, "how", "remote.")

    _text_list(problems, data, "steps", "")
    contact = _section(problems, data, "contact")
    _text(problems, contact, "phone", "contact.")
    _text(problems, contact, "hours", "contact.")
    _text(problems, data, "notes", "", optional=True)

    known = {
        "id",
        "title",
        "category",
        "department",
        "scope",
        "synonyms",
        "conditions",
        "materials",
        "proxy",
        "time_limit",
        "fees",
        "where",
        "remote",
        "steps",
        "contact",
        "notes",
    }
    unknown = set(data) - known
    if unknown:
        problems.add("(top)", f"unknown fields {sorted(unknown)}")
    return problems.items

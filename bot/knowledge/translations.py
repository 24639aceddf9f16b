"""Guides, sites and aspects in the other languages the assistant answers in.

`knowledge/translations/<code>/` mirrors the Chinese files: `guides/<category>/<id>.yml` with the
text fields of the guide (ids, enums and phone numbers stay in the Chinese guide), `sites.yml` with
the names, addresses and hours of each place by id, and `aspects.yml` with each aspect's label and the
words people use for it. The Chinese guide is authoritative; a translation says so when shown.

A translation is checked against its Chinese guide: every text field the Chinese one has must be
there, lists must have the same length, and each material and fee the same keys.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from bot.knowledge.schema import MIN_SYNONYMS, Problems

# The parts of a guide that carry text; everything else (ids, enums, phones) comes from the Chinese guide.
TEXT_FIELDS = ("title", "department", "scope", "proxy", "notes")
NESTED_TEXT = {"conditions": ("who",), "time_limit": ("legal", "promised"), "remote": ("how",), "contact": ("hours",)}
PARALLEL_LISTS = ("conditions.requirements", "steps")
PARALLEL_RECORDS = ("materials", "fees")
NOT_TRANSLATED = {"copies"}


def _get(data: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def check_translation(path: Path, data: Any, chinese: dict[str, Any]) -> list[str]:
    """Problems of one translated guide compared with its Chinese guide (empty when valid)."""
    problems = Problems(path)
    if not isinstance(data, dict):
        problems.add("file", "must be a mapping")
        return problems.items
    if data.get("id") != chinese["id"]:
        problems.add("id", f"must be {chinese['id']!r}")
    for key in TEXT_FIELDS:
        if key in chinese and not _is_text(data.get(key)):
            problems.add(key, "must be a non-empty string (the Chinese guide has it)")
    for section, keys in NESTED_TEXT.items():
        for key in keys:
            if not _is_text(_get(data, f"{section}.{key}")):
                problems.add(f"{section}.{key}", "must be a non-empty string")
    if chinese.get("where", {}).get("note") and not _is_text(_get(data, "where.note")):
        problems.add("where.note", "must be a non-empty string (the Chinese guide has it)")
    synonyms = data.get("synonyms")
    if not isinstance(synonyms, list) or len([s for s in synonyms if _is_text(s)]) < MIN_SYNONYMS:
        problems.add("synonyms", f"must be a list of at least {MIN_SYNONYMS} strings")
    for dotted in PARALLEL_LISTS:
        theirs, ours = _get(chinese, dotted), _get(data, dotted)
        if not isinstance(ours, list) or len(ours) != len(theirs) or not all(_is_text(entry) for entry in ours):
            problems.add(dotted, f"must be a list of {len(theirs)} strings, in the Chinese guide's order")
    for key in PARALLEL_RECORDS:
        theirs, ours = chinese[key], data.get(key)
        if not isinstance(ours, list) or len(ours) != len(theirs):
            problems.add(key, f"must be a list of {len(theirs)} entries, in the Chinese guide's order")
            continue
        for index, (zh_entry, entry) in enumerate(zip(theirs, ours, strict=True)):
            wanted = set(zh_entry) - NOT_TRANSLATED
            if not isinstance(entry, dict):
                problems.add(f"{key}[{index}]", "must be a mapping")
                continue
            for field in sorted(wanted):
                if not _is_text(entry.get(field)):
                    problems.add(f"{key}[{index}].{field}", "must be a non-empty string (the Chinese entry has it)")
    return problems.items


def overlay(chinese: dict[str, Any], translated: dict[str, Any]) -> dict[str, Any]:
    """The Chinese guide with its text fields replaced by the translation's."""
    merged = copy.deepcopy(chinese)
    for key in (*TEXT_FIELDS, "synonyms", "steps"):
        if key in translated:
            merged[key] = translated[key]
    for section in ("conditions", "time_limit", "remote", "contact", "where"):
        for key, value in (translated.get(section) or {}).items():
            if isinstance(value, str):
                merged.setdefault(section, {})[key] = value
    if "requirements" in (translated.get("conditions") or {}):
        merged["conditions"]["requirements"] = translated["conditions"]["requirements"]
    for key in PARALLEL_RECORDS:
        for zh_entry, entry in zip(merged[key], translated.get(key) or [], strict=False):
            zh_entry.update({field: value for field, value in entry.items() if field not in NOT_TRANSLATED})
    return merged

"""The supported languages, read from knowledge/languages.yml."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"


def knowledge_root(root: str | Path | None = None) -> Path:
    return Path(root or os.environ.get("KNOWLEDGE_DIR", DEFAULT_KNOWLEDGE))


@dataclass(frozen=True)
class Languages:
    default: str
    names: dict[str, str]
    recognised_only: tuple[str, ...]

    @property
    def supported(self) -> tuple[str, ...]:
        return tuple(self.names)

    @property
    def foreign(self) -> tuple[str, ...]:
        """Supported languages other than the default (the authoritative guides' language)."""
        return tuple(code for code in self.names if code != self.default)

    def normalise(self, code: object) -> str | None:
        """A supported code from what a client sent ("it-IT", "IT", "fr_FR"), or None."""
        if not isinstance(code, str):
            return None
        short = code.strip().replace("_", "-").split("-")[0].lower()
        return short if short in self.names else None


@functools.lru_cache(maxsize=4)
def load_languages(root: str | None = None) -> Languages:
    data = yaml.safe_load((knowledge_root(root) / "languages.yml").read_text(encoding="utf-8"))
    names = {code: entry["name"] for code, entry in data["supported"].items()}
    if data["default"] not in names:
        raise ValueError("languages.yml: default must be one of the supported languages")
    return Languages(data["default"], names, tuple(data.get("recognised_only") or ()))

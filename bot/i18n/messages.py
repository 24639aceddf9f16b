"""The bot's own texts in every supported language: knowledge/messages/<code>.yml.

One flat mapping of keys to texts per language, with `{name}` placeholders. Every language must
have every key of the default language (checked by `check()` and the tests), so that no citizen
gets a Chinese sentence in the middle of an Italian answer.
"""

from __future__ import annotations

import functools
import string
from pathlib import Path

import yaml

from bot.i18n.languages import Languages, knowledge_root, load_languages


class MessageCatalog:
    def __init__(self, root: Path, languages: Languages):
        self.languages = languages
        self.texts: dict[str, dict[str, str]] = {}
        for code in languages.supported:
            path = root / "messages" / f"{code}.yml"
            data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
            self.texts[code] = {str(key): str(value) for key, value in (data or {}).items()}

    def text(self, key: str, language: str | None, **values: object) -> str:
        texts = self.texts.get(language or "") or self.texts[self.languages.default]
        template = texts.get(key, self.texts[self.languages.default][key])
        return template.format(**values) if values else template

    def check(self) -> list[str]:
        """Problems: keys missing in a language, or placeholders that differ from the default's."""
        problems = []
        reference = self.texts[self.languages.default]
        for code, texts in self.texts.items():
            for key, template in reference.items():
                if key not in texts:
                    problems.append(f"messages/{code}.yml: {key}: missing")
                elif _fields(texts[key]) != _fields(template):
                    problems.append(f"messages/{code}.yml: {key}: placeholders differ from messages/zh.yml")
            for key in texts.keys() - reference.keys():
                problems.append(f"messages/{code}.yml: {key}: not in the default language's file")
        return problems


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@functools.lru_cache(maxsize=4)
def load_messages(root: str | None = None) -> MessageCatalog:
    return MessageCatalog(knowledge_root(root), load_languages(root))

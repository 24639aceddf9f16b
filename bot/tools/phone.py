"""How long the first answer to each item is on a phone (390 px), per language.

`python -m bot.tools.phone` prints, for the 84 items, the lines the first answer takes in the
widget (`answers.phone_lines`): the summary the bot sends now, with and without a nearby site,
and the full overview it used to send (still one tap away, in the full guide).
"""

from __future__ import annotations

import statistics
import sys

from bot.actions import answers
from bot.i18n import load_languages
from bot.knowledge import load_knowledge


def figures() -> dict[str, dict[str, tuple[int, float, int]]]:
    kb = load_knowledge()
    result = {}
    for language in load_languages().supported:
        rows: dict[str, list[int]] = {"summary": [], "summary_with_site": [], "overview_before": []}
        for item in kb.guides:
            guide = kb.guide(item, language)
            rows["summary"].append(answers.phone_lines(answers.compose(guide, None, kb, None, language)))
            site = (guide["where"].get("overseas_sites") or [None])[0]
            rows["summary_with_site"].append(answers.phone_lines(answers.compose(guide, None, kb, site, language)))
            rows["overview_before"].append(answers.phone_lines(answers.overview(guide, kb, language)))
        result[language] = {name: (min(v), statistics.median(v), max(v)) for name, v in rows.items()}
    return result


def main() -> int:
    print("lines at 390 px (min / median / max over the 84 items)")
    for language, rows in figures().items():
        text = "; ".join(f"{name} {low}/{mid:g}/{high}" for name, (low, mid, high) in rows.items())
        print(f"{language}: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

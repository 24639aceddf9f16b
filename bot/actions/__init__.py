"""Custom actions, served by `python -m bot.actions.server` (rasa-sdk imports every submodule of this package).

The action classes are loaded on first use (PEP 562), not when the package is imported: the desk imports
`bot.actions.answers` (the bot's own wording, for the console's suggestions) and runs in its own
environment (.venv-desk) without rasa-sdk, whose Sanic pins multidict < 6 beside the current aiohttp.
"""

from __future__ import annotations

import importlib
from typing import Any

# Each action class and the submodule that defines it.
_WHERE = {
    "ActionBookingDone": "booking",
    "ValidateBookingForm": "booking",
    "ValidateBookingManageForm": "booking",
    "ActionCheckCase": "case_status",
    "ActionAnswerGuide": "guide",
    "ActionClarify": "guide",
    "ActionHandoff": "handoff",
    "ActionReplyOffer": "handoff",
    "ActionOutOfScope": "out_of_scope",
    "ActionUnsupportedLanguage": "out_of_scope",
    "ActionPlatform": "platform",
    "ActionGoodbye": "replies",
    "ActionGreet": "replies",
    "ActionIAmABot": "replies",
    "ActionYouAreWelcome": "replies",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)

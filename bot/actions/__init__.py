"""Custom actions, served by `rasa run actions --actions bot.actions`."""

from bot.actions.booking import ActionBookingDone, ValidateBookingForm, ValidateBookingManageForm
from bot.actions.case_status import ActionCheckCase
from bot.actions.guide import ActionAnswerGuide, ActionClarify
from bot.actions.handoff import ActionHandoff, ActionReplyOffer
from bot.actions.out_of_scope import ActionOutOfScope, ActionUnsupportedLanguage
from bot.actions.platform import ActionPlatform
from bot.actions.replies import ActionGoodbye, ActionGreet, ActionIAmABot, ActionYouAreWelcome

__all__ = [
    "ActionBookingDone",
    "ActionAnswerGuide",
    "ActionCheckCase",
    "ActionClarify",
    "ActionGoodbye",
    "ActionGreet",
    "ActionHandoff",
    "ActionIAmABot",
    "ActionOutOfScope",
    "ActionPlatform",
    "ActionReplyOffer",
    "ActionUnsupportedLanguage",
    "ActionYouAreWelcome",
    "ValidateBookingForm",
    "ValidateBookingManageForm",
]

"""Custom actions, served by `rasa run actions --actions bot.actions`."""

from bot.actions.case_status import ActionCheckCase
from bot.actions.guide import ActionAnswerGuide, ActionClarify
from bot.actions.handoff import ActionHandoff, ActionReplyOffer
from bot.actions.out_of_scope import ActionOutOfScope
from bot.actions.social import ActionSocial

__all__ = [
    "ActionAnswerGuide",
    "ActionCheckCase",
    "ActionClarify",
    "ActionHandoff",
    "ActionOutOfScope",
    "ActionReplyOffer",
    "ActionSocial",
]

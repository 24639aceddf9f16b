"""The bot's short fixed replies (greeting, goodbye, thanks...), in the conversation's language.

They are actions rather than domain responses so that every language's text lives in one place,
knowledge/messages/<code>.yml, next to the other bot texts, and every message carries its language.
"""

from __future__ import annotations

import abc
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.language import Reply

GREETING_BUTTONS = (
    ("button.case_status", "/check_case_status"),
    ("button.proxy_handling", "/item_proxy_handling"),
    ("button.site_appointment", "/item_overseas_site_appointment"),
    ("button.human", "/request_human"),
)


class FixedReply(Action, abc.ABC):
    """A reply made of one catalog text (`key`) and its buttons (catalog key, payload)."""

    key = ""
    buttons: tuple[tuple[str, str], ...] = ()

    @abc.abstractmethod
    def name(self) -> str: ...

    # Short replies in a conversation ("我在荷兰", "丢了") are often taken for small talk by the
    # classifier alone; when the context says they state a circumstance or pick an offered item,
    # they are answered as such (bot.actions.context).
    in_context = False

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        if self.in_context:
            from bot.actions.guide import respond_in_context  # guide imports actions that import this module

            answered = respond_in_context(dispatcher, tracker, strong_only=True, short_reply=True)
            if answered is not None:
                return answered
        reply = Reply(dispatcher, tracker)
        reply.send(reply.say(self.key), [reply.button(label, payload) for label, payload in self.buttons])
        return reply.events()


class ActionGreet(FixedReply):
    key, buttons, in_context = "greet", GREETING_BUTTONS, True

    def name(self) -> str:
        return "action_greet"


class ActionGoodbye(FixedReply):
    key, in_context = "goodbye", True

    def name(self) -> str:
        return "action_goodbye"


class ActionYouAreWelcome(FixedReply):
    key, in_context = "you_are_welcome", True

    def name(self) -> str:
        return "action_you_are_welcome"


class ActionIAmABot(FixedReply):
    # "是不是一定得飞回来一趟" can read as "是不是机器人": with an item under discussion and its aspect
    # asked, it is that aspect; "你是机器人吗" names none and is still answered as asked.
    key, in_context = "i_am_a_bot", True

    def name(self) -> str:
        return "action_i_am_a_bot"

"""Questions the platform does not handle: say so kindly and say where to go."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.guide import respond_in_context
from bot.actions.understanding import latest_entities

FOREIGN_HINT = "如果是所在国的居留、签证、驾照等手续，请咨询当地政府主管部门或中国驻当地使领馆。"


class ActionOutOfScope(Action):
    def name(self) -> str:
        return "action_out_of_scope"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        # "我在南非，那边能办吗" can look out of scope alone; in a conversation about an item it is not.
        in_context = respond_in_context(dispatcher, tracker, strong_only=True)
        if in_context is not None:
            return in_context
        text = "抱歉，这个问题不在温州华侨服务平台的服务范围内。"
        if latest_entities(tracker, "place"):
            text += FOREIGN_HINT
        text += "我可以解答在温州办理的户籍、出入境、公证、不动产、社保、公积金等84项业务，也可以查询办件进度。"
        dispatcher.utter_message(
            text=text,
            buttons=[
                {"title": "查办件进度", "payload": "/check_case_status"},
                {"title": "委托亲友代办", "payload": "/item_proxy_handling"},
                {"title": "转人工", "payload": "/request_human"},
            ],
            json_message={"out_of_scope": True},
        )
        return []

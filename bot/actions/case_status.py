"""Case-status lookup, shown only on proof of ownership.

The proof is the case number, the applicant's surname and the last four
characters of the document number, given in any order over one or more
messages (the slots are filled from the entities the NLU finds).
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.resources import database, knowledge
from bot.actions.understanding import client_of
from bot.db import CaseView
from bot.privacy import mask_case_no, rate_limit

logger = logging.getLogger(__name__)

MAX_FAILURES = 3
# (lookups, seconds) from one client address, across its conversations.
LOOKUPS_PER_ADDRESS = (10, 600)
TOO_MANY_LOOKUPS = "查询太频繁了，为保护申请人信息，请10分钟后再试；着急的话可以说“转人工”。"
PROOF_SLOTS = {
    "case_no": "案件编号（WZ开头的14位编号）",
    "surname": "申请人姓氏",
    "doc_last4": "申请时所用证件号码的后四位",
}
STATUS_WORDS = {
    "received": "已受理",
    "in_review": "审核中",
    "needs_materials": "待补充材料",
    "approved": "已办结（审核通过）",
    "mailed": "已寄出",
    "rejected": "未通过",
    "closed": "已办结",
}
NEXT_STEP = {
    "received": "材料已收到，我们会尽快审核，请留意短信或平台通知。",
    "in_review": "正在审核中，无需操作，请耐心等待。",
    "needs_materials": "请按上面的说明补充材料，可交到受理站点或通过本平台提交。",
    "approved": "已审核通过，请按约定方式领取结果，或联系受理站点安排邮寄。",
    "mailed": "结果已寄出，可凭快递单号查询物流。",
    "rejected": "请按上面的原因准备后重新申请，如有疑问可转人工咨询。",
    "closed": "该办件已办结，无需再操作。",
}
RESET_PROOF = [SlotSet(slot, None) for slot in PROOF_SLOTS]


def describe(case: CaseView) -> str:
    kb = knowledge()
    guide = kb.guide(case.item_id)
    title = guide.title if guide else case.item_id
    latest = case.history[-1] if case.history else None
    rows = [f"办件 {mask_case_no(case.case_no)}（{title}）", f"当前状态：{STATUS_WORDS.get(case.status, case.status)}"]
    if latest:
        step = f"最新进展（{latest['at']:%Y-%m-%d %H:%M}）：{STATUS_WORDS.get(latest['status'], latest['status'])}"
        if latest.get("note"):
            step += f"，{latest['note']}"
        rows.append(step)
    if case.site:
        rows.append(f"受理点：{case.site}")
    rows.append(f"下一步：{NEXT_STEP.get(case.status, '如有疑问可转人工咨询。')}")
    return "\n".join(rows)


class ActionCheckCase(Action):
    def name(self) -> str:
        return "action_check_case"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        if tracker.get_slot("candidates") and not any(
            entity.get("entity") in PROOF_SLOTS for entity in tracker.latest_message.get("entities") or []
        ):
            # "丢了的那个" right after offered choices picks one; it is no case question.
            from bot.actions.guide import respond_in_context  # guide imports the hand-off, which this needs first

            in_context = respond_in_context(dispatcher, tracker, strong_only=True)
            if in_context is not None:
                return in_context
        failures = tracker.get_slot("case_failures") or 0.0
        if failures >= MAX_FAILURES:
            dispatcher.utter_message(
                text="为保护申请人信息，本次对话的办件查询已暂停。需要的话我可以为您转人工核实，好吗？",
                buttons=[{"title": "转人工", "payload": "/affirm"}, {"title": "不用了", "payload": "/deny"}],
            )
            return [*RESET_PROOF, SlotSet("pending_offer", "case_verification_failed")]

        proof = {slot: tracker.get_slot(slot) for slot in PROOF_SLOTS}
        missing = [label for slot, label in PROOF_SLOTS.items() if not proof[slot]]
        if missing:
            given = (
                "已收到您提供的部分信息。"
                if len(missing) < len(PROOF_SLOTS)
                else "为保护个人信息，查询办件需要核验身份。"
            )
            dispatcher.utter_message(text=f"{given}请提供：{'、'.join(missing)}。")
            return []

        client = client_of(tracker)
        # Only the desk knows the address; trusted channels calling Rasa directly have the per-conversation rule.
        if client and not database().allow(
            f"case:addr:{client}", *rate_limit("CASE_LOOKUPS_PER_ADDRESS", LOOKUPS_PER_ADDRESS)
        ):
            # Many conversations from one address: a brute force of numbers or proofs.
            logger.warning("case lookups rate limited: client=%s", client)
            dispatcher.utter_message(text=TOO_MANY_LOOKUPS)
            return list(RESET_PROOF)
        case = database().find_owned_case(proof["case_no"], proof["surname"], proof["doc_last4"])
        if case is None:
            failures += 1
            logger.info("case lookup failed: case=%s failures=%d", mask_case_no(proof["case_no"]), failures)
            if failures >= MAX_FAILURES:
                dispatcher.utter_message(
                    text="多次核验未通过，为保护申请人信息，本次对话已停止查询。需要我为您转人工核实吗？",
                    buttons=[{"title": "转人工", "payload": "/affirm"}, {"title": "不用了", "payload": "/deny"}],
                )
                return [
                    *RESET_PROOF,
                    SlotSet("case_failures", failures),
                    SlotSet("pending_offer", "case_verification_failed"),
                ]
            dispatcher.utter_message(
                text="没有查到与您提供的信息相符的办件。请核对案件编号、申请人姓氏和证件号后四位后重新发给我。",
            )
            return [*RESET_PROOF, SlotSet("case_failures", failures)]

        logger.info("case lookup ok: case=%s", mask_case_no(case.case_no))
        dispatcher.utter_message(
            text=describe(case), json_message={"case": {"status": case.status, "item": case.item_id}}
        )
        return [*RESET_PROOF, SlotSet("case_failures", 0.0)]

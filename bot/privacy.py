"""Masking of personal data in logs and in the trainer's view."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import re

# Re-exported for bot/actions/case_status.py, which another branch owns; the parser lives in bot.limits.
from bot.limits import rate_limit  # noqa: F401
from bot.nlu.case_proof import find_proof

_CASE_NO = re.compile(r"(?i)(wz)[\s\-_]*((?:\d[\s\-_]*){11}\d)")
_LONG_NUMBER = re.compile(r"(?<![0-9a-z])(?:\+?\d[\d\s\-]{6,}\d|\d{6,}[0-9xX]?)(?![0-9a-z])", re.IGNORECASE)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_PASSPORT = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{1,2}\d{7,8}(?![A-Za-z0-9])")
_DOC_TAIL = re.compile(r"((?:后\s*[四4]\s*位|尾\s*[号数]|末\s*[四4]\s*位)[^0-9A-Za-z]{0,6})[0-9]{3}[0-9Xx]")
_NAME = re.compile(
    r"((?:我叫|名字是|名字叫|申请人是?|姓名是?)[:：\s]*)[\u4e00-\u9fff]{2,4}|(姓[:：是]?\s*)[\u4e00-\u9fff]"
)


def client_key(address: str | None) -> str:
    """A stable, non-reversible name for a client address, for rate limits and logs.

    An IPv6 address counts by its /64: one host holds a whole /64 and could rotate within it
    (issue 10, item 2).
    """
    salt = os.environ.get("CLIENT_KEY_SALT", "wenzhou-desk")
    return hashlib.sha256(f"{salt}:{_bucket(address)}".encode()).hexdigest()[:16]


def _bucket(address: str | None) -> str:
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def trusted_networks(spec: str | list[str] | None) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """DESK_TRUSTED_PROXIES: comma-separated addresses or networks of the reverse proxies."""
    items = spec.split(",") if isinstance(spec, str) else list(spec or [])
    return [ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip()]


def client_address(peer: str | None, forwarded_for: str | None, trusted: list) -> str | None:
    """The citizen's address: the peer, or, when the peer is a trusted proxy, the right-most
    X-Forwarded-For entry that is not a trusted proxy (the left part is the client's to forge)."""

    def is_trusted(address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address((address or "").strip())
        except ValueError:
            return False
        return any(ip in network for network in trusted)

    if not trusted or not is_trusted(peer) or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return hop
    return hops[0] if hops else peer


def mask_case_no(case_no: str) -> str:
    digits = re.sub(r"\D", "", case_no or "")
    return f"WZ{digits[:4]}****{digits[-2:]}" if len(digits) >= 6 else "WZ****"


def mask(text: str) -> str:
    """Text with case numbers, document and phone numbers and names masked."""
    if not text:
        return text
    # E-mail addresses (issue 10, item 5): they reached the inbox and would reach the training data.
    text = _EMAIL.sub("[邮箱]", text)
    text = _NAME.sub(lambda m: (m.group(1) or m.group(2)) + "**", text)
    # The proof parts as the NLU finds them ("WZ... 陈 5821"), then patterns.
    replacement = {"case_no": mask_case_no, "surname": lambda _: "*", "doc_last4": lambda _: "****"}
    for found in sorted(find_proof(text), key=lambda f: -f.start):
        text = text[: found.start] + replacement[found.entity](found.value) + text[found.end :]
    text = _CASE_NO.sub(lambda m: mask_case_no(m.group(0)), text)
    text = _PASSPORT.sub("[证件号]", text)
    text = _LONG_NUMBER.sub("[号码]", text)
    text = _DOC_TAIL.sub(lambda m: m.group(1) + "****", text)
    return text


class MaskingFilter(logging.Filter):
    """Masks personal data in every log record that passes through."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask(record.msg % record.args) if record.args else mask(record.msg)
            record.args = ()
        return True


def install_log_masking() -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(MaskingFilter())

"""A citizen's name and contact, checked before a booking is saved."""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

# Letters of any script, with the spaces, hyphens, apostrophes and dots names carry ("D'Amico", "J. Smith").
FALLBACK_REGIONS = ("CN", "IT", "FR", "ZA", "AE")
_NAME = re.compile(r"[^\W\d_](?:[^\W\d_]|[\s'’.\-·])*")
_NAME_PREFIX = re.compile(
    r"^(?:我叫|我是|姓名是?|名字是|名字叫|预约人是?|mi chiamo|sono|je m'appelle|je suis|my name is|i am|i'm)[:：\s]*",
    re.I,
)


def clean_name(text: str) -> str | None:
    """The name in an answer ("我叫陈小明" -> "陈小明"), or None when it is not a plausible name."""
    name = _NAME_PREFIX.sub("", " ".join((text or "").split())).strip(" 。.!！")
    if not 2 <= len(name) <= 60 or not _NAME.fullmatch(name):
        return None
    if re.search(r"[\u4e00-\u9fff]", name) and (len(name) > 6 or " " in name.strip()):
        return None  # a Chinese name has 2 to 6 characters; a longer text is an answer, not a name
    return name


def clean_contact(text: str, region: str | None = None) -> str | None:
    """An e-mail address (normalised) or a phone number (E.164), or None when neither is valid.

    `region` (ISO code of the place's country) reads a number written without its country code.
    """
    text = (text or "").strip()
    found = re.search(r"[^\s@,;，；:：]+@[^\s@,;，；]+", text)
    if found:
        try:
            return validate_email(found.group(0).rstrip("。."), check_deliverability=False).normalized
        except EmailNotValidError:
            return None
    digits = re.search(r"\+?[\d][\d\s\-().]{5,}\d", text)
    if not digits:
        return None
    # Without its country code, read in the place's country first, then where the platform's sites are.
    for guess in ([None] if digits.group(0).startswith("+") else []) + [region, *FALLBACK_REGIONS]:
        try:
            number = phonenumbers.parse(digits.group(0), guess)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None

"""A booking's name and contact checks, and booking data masked in logs and the trainer's view."""

from __future__ import annotations

import pytest

from bot.booking.contact import clean_contact, clean_name
from bot.db.bookings import accepted_surnames, surname_of
from bot.privacy import mask


@pytest.mark.parametrize(
    ("text", "name"),
    [("陈小明", "陈小明"), ("我叫陈小明", "陈小明"), ("Marco Rossi", "Marco Rossi"), ("mi chiamo Anna D'Amico", "Anna D'Amico")],
)
def test_names_are_read_from_an_answer(text, name):
    assert clean_name(text) == name


@pytest.mark.parametrize("text", ["12345", "a", "我想问一下护照过期了怎么换呢", "+39 333 1234567", ""])
def test_what_is_not_a_name_is_refused(text):
    assert clean_name(text) is None


@pytest.mark.parametrize(
    ("text", "region", "contact"),
    [
        ("+39 333 1234567", None, "+393331234567"),
        ("333 123 4567", "IT", "+393331234567"),  # no country code: read in the place's country
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("13812345678", None, "+8613812345678"),
        ("Mail: Chen.Wei@Example.com", None, "Chen.Wei@example.com"),
    ],
)
def test_phones_and_emails_are_validated_and_normalised(text, region, contact):
    assert clean_contact(text, region) == contact


@pytest.mark.parametrize("text", ["+39 12", "chen@", "chen@example", "明天上午", "123"])
def test_invalid_contacts_are_refused(text):
    assert clean_contact(text, "IT") is None


def test_surnames_in_characters_pinyin_or_latin_words():
    assert surname_of("欧阳娜娜") == "欧阳" and surname_of("陈小明") == "陈" and surname_of("Marco Rossi") == "rossi"
    assert {"陈", "chen"} <= accepted_surnames("陈小明")
    assert accepted_surnames("Marco Rossi") == {"marco", "rossi"}


def test_booking_codes_and_emails_are_masked():
    masked = mask("取消预约 BK7Q4M2P 陈，邮箱 chen.wei@example.com，电话 +39 333 1234567")
    assert "BK7Q4M2P" not in masked and "BK****2P" in masked
    assert "chen.wei@example.com" not in masked and "1234567" not in masked

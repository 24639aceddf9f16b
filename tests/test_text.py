"""Normalisation, proof extraction and masking on text as people write it."""

from __future__ import annotations

import pytest

from bot.nlu.case_proof import find_proof
from bot.nlu.normalize import normalize
from bot.privacy import mask, mask_case_no


def proof(text: str) -> dict[str, str]:
    return {found.entity: found.value for found in find_proof(text)}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("護照遺失補發", "护照遗失补发"),
        ("ＷＺ２０２６　多少錢？", "wz2026 多少钱?"),
        ("Passport 換發", "passport 换发"),
        ("", ""),
    ],
)
def test_normalize_is_simplified_half_width_lower_and_keeps_length(raw, expected):
    assert normalize(raw) == expected
    assert len(normalize(raw)) == len(raw)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("WZ202610080017 陈 5821", {"case_no": "WZ202610080017", "surname": "陈", "doc_last4": "5821"}),
        ("5821 陈 wz202610080017", {"case_no": "WZ202610080017", "surname": "陈", "doc_last4": "5821"}),
        (
            "案件号wz 2026 1100 0031，姓黄，证件后四位4406",
            {"case_no": "WZ202611000031", "surname": "黄", "doc_last4": "4406"},
        ),
        (
            "我叫王建国 案件 WZ-2026-1021-0042 身份证尾号0937",
            {"case_no": "WZ202610210042", "surname": "王", "doc_last4": "0937"},
        ),
        ("ｗｚ２０２６１１０３０００５ 林 612x", {"case_no": "WZ202611030005", "surname": "林", "doc_last4": "612X"}),
        ("我姓欧阳，护照后四位1234", {"surname": "欧阳", "doc_last4": "1234"}),
        ("陈", {"surname": "陈"}),
        ("5821", {"doc_last4": "5821"}),
        ("护照换发要多少钱 2026年", {}),
        ("周末上班吗", {}),
        ("我上个月办的公证到哪一步了", {}),
    ],
)
def test_proof_parts_in_any_order_and_spacing(text, expected):
    assert proof(text) == expected


def test_proof_offsets_point_into_the_original_text():
    text = "ＷＺ２０２６１１０３０００５ 林"
    for found in find_proof(text):
        assert normalize(text[found.start : found.end]).replace(" ", "") in (found.value.lower(), found.value)


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("WZ202610080017 陈 5821", ["202610080017", "陈", "5821"]),
        ("我叫王建国，护照E12345678，电话+39 333 123 4567", ["王建国", "E12345678", "333 123 4567"]),
        ("身份证330302198001011234", ["330302198001011234"]),
        ("姓林 后四位612X", ["林", "612X"]),
    ],
)
def test_mask_hides_personal_data(text, hidden):
    masked = mask(text)
    for value in hidden:
        assert value not in masked


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        # Issue 10, item 5: names without a trigger word, and street addresses.
        ("陈小明的护照过期了", ["小明"]),
        ("我是王伟，想问签证", ["王伟"]),
        ("我妈妈林秀英要办居住证", ["秀英"]),
        ("我住在温州市鹿城区人民路123号3幢201室", ["人民路", "123号", "201室"]),
        ("abito in Via Giuseppe Garibaldi 12, Milano", ["Garibaldi 12"]),
        ("j'habite au 12 rue de la Paix", ["12 rue", "Paix"]),
        ("I live at 221 Baker Street", ["221 Baker"]),
        ("Hauptstraße 5, Berlin", ["Hauptstraße 5"]),
    ],
)
def test_mask_hides_bare_names_and_street_addresses(text, hidden):
    masked = mask(text)
    for value in hidden:
        assert value not in masked, masked


def test_mask_keeps_ordinary_text():
    assert mask("护照换发要多少钱") == "护照换发要多少钱"
    # Places and words the tagger files under names stay: "**" in training data would spoil it.
    for text in ("帮我查一下张家港的办事处", "黄金周办事处开门吗", "王府井在哪", "在米兰的领事馆在哪", "请问周末办公吗"):
        assert mask(text) == text
    assert mask_case_no("WZ202610080017") == "WZ2026****17"


def test_common_typos_are_corrected_without_moving_text():
    assert normalize("户口注消要什么") == "户口注销要什么"
    assert normalize("委拖书公正") == "委托书公证"
    assert len(normalize("继成公证")) == len("继成公证")

"""Masking of personal data in logs and in the trainer's view."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import os
import re

from bot.nlu.case_proof import find_proof

_CASE_NO = re.compile(r"(?i)(wz)[\s\-_]*((?:\d[\s\-_]*){11}\d)")
_LONG_NUMBER = re.compile(r"(?<![0-9a-z])(?:\+?\d[\d\s\-]{6,}\d|\d{6,}[0-9xX]?)(?![0-9a-z])", re.IGNORECASE)
_PASSPORT = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{1,2}\d{7,8}(?![A-Za-z0-9])")
# Appointments (issue 14): booking codes (BK + 6) and e-mail addresses given as a contact.
_BOOKING_CODE = re.compile(r"(?i)(?<![0-9a-z])B\s*K[\s\-]*([A-Z0-9]{6})(?![0-9a-z])")
EMAIL = re.compile(r"[^\s@<>()\[\]{},;:，；：]+@[^\s@<>()\[\]{},;:，；：]+\.[A-Za-z]{2,}")
_DOC_TAIL = re.compile(r"((?:后\s*[四4]\s*位|尾\s*[号数]|末\s*[四4]\s*位)[^0-9A-Za-z]{0,6})[0-9]{3}[0-9Xx]")
_NAME = re.compile(
    r"((?:我叫|名字是|名字叫|申请人是?|姓名是?)[:：\s]*)[\u4e00-\u9fff]{2,4}|(姓[:：是]?\s*)[\u4e00-\u9fff]"
)
# Street addresses (issue 10, item 5): a Chinese street with its house number ("人民路123号"), and the
# street shapes of Italian, French, English and German addresses with their numbers.
_ADDRESS = re.compile(
    r"[\u4e00-\u9fff]{1,6}(?:路|街|大道|巷|弄|胡同)\s*[0-9０-９]+(?:\s*[-－]\s*[0-9０-９]+)?\s*号"
    r"(?:\s*[0-9０-９]+\s*(?:幢|栋|楼|单元|室|号))*"
    r"|(?i:\b(?:via|viale|piazza|piazzale|corso|largo|vicolo|strada|contrada)\s+(?:[^\W\d_][\w'’.-]*\s+){0,4}?"
    r"[^\W\d_][\w'’.-]*,?\s*(?:n\.?\s*)?\d{1,4}[a-z]?\b)"
    r"|(?i:\b\d{1,4}\s*(?:bis|ter)?,?\s+(?:rue|avenue|av\.|boulevard|bd|place|chemin|allée|impasse|quai|cours)\b"
    r"(?:\s+[^\W\d_][\w'’-]*){1,5})"
    r"|\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,4}(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Close|Court)\b\.?"
    r"|\b[A-ZÄÖÜ][\wäöüß-]*(?:straße|strasse|str\.|platz|weg|gasse|allee)\s*\d{1,4}[a-z]?\b"
)
# Every alternative of _ADDRESS needs one of these words, with the same case rule: a text without any
# is left alone at the cost of one scan, rather than _ADDRESS's backtracking (the costliest pattern here).
_ADDRESS_WORD = re.compile(
    r"路|街|大道|巷|弄|胡同"
    r"|(?i:via|viale|piazza|piazzale|corso|largo|vicolo|strada|contrada)"
    r"|(?i:rue|avenue|av\.|boulevard|bd|place|chemin|allée|impasse|quai|cours)"
    r"|Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Close|Court"
    r"|straße|strasse|str\.|platz|weg|gasse|allee"
)
# Common Chinese surnames (single and compound): a name the tokenizer finds without a trigger
# word ("陈小明的护照过期了") is masked when it starts with one of them.
_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟"
    "谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤季池应麻"
)
_COMPOUND_SURNAMES = {"欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "夏侯", "司徒"}
_CJK = re.compile(r"[\u4e00-\u9fff]")


def client_key(address: str | None) -> str:
    """A stable, non-reversible name for a client address, for rate limits and logs.

    An IPv6 address counts by its /64: one host holds a whole /64 and could rotate within it
    (issue 10, item 2).
    """
    return _client_key(os.environ.get("CLIENT_KEY_SALT", "wenzhou-desk"), address)


@functools.lru_cache(maxsize=4096)
def _client_key(salt: str, address: str | None) -> str:
    # Asked on every request: the address parsed and hashed once per address, not per message.
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


def is_trusted(address: str | None, trusted: list) -> bool:
    """Whether `address` is one of the trusted proxies' (False for anything that is not an address)."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(peer: str | None, forwarded_for: str | None, trusted: list) -> str | None:
    """The citizen's address: the peer, or, when the peer is a trusted proxy, the right-most
    X-Forwarded-For entry that is not a trusted proxy (the left part is the client's to forge)."""
    if not trusted or not is_trusted(peer, trusted) or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def mask_case_no(case_no: str) -> str:
    digits = re.sub(r"\D", "", case_no or "")
    return f"WZ{digits[:4]}****{digits[-2:]}" if len(digits) >= 6 else "WZ****"


def mask_booking_code(code: str) -> str:
    letters = re.sub(r"[^0-9A-Za-z]", "", code or "").upper()
    return f"BK****{letters[-2:]}" if len(letters) >= 8 else "BK****"


def mask(text: str) -> str:
    """Text with case numbers, document and phone numbers and names masked."""
    if not text:
        return text
    # Every log line passes here (the desk logs two per citizen message): a pattern that cannot match
    # is not run. An e-mail address needs "@", which no replacement below adds.
    email = "@" in text
    # E-mail addresses (issue 10, item 5): they reached the inbox and would reach the training data.
    if email:
        text = EMAIL.sub("[邮箱]", text)
    if _ADDRESS_WORD.search(text):
        text = _ADDRESS.sub("[地址]", text)
    text = _NAME.sub(lambda m: (m.group(1) or m.group(2)) + "**", text)
    text = _mask_bare_names(text)
    # The proof parts as the NLU finds them ("WZ... 陈 5821"), then patterns.
    replacement = {"case_no": mask_case_no, "surname": lambda _: "*", "doc_last4": lambda _: "****"}
    for found in sorted(find_proof(text), key=lambda f: -f.start):
        text = text[: found.start] + replacement[found.entity](found.value) + text[found.end :]
    text = _CASE_NO.sub(lambda m: mask_case_no(m.group(0)), text)
    text = _BOOKING_CODE.sub(lambda m: mask_booking_code(m.group(0)), text)
    if email:
        text = EMAIL.sub("[邮箱]", text)
    text = _PASSPORT.sub("[证件号]", text)
    text = _LONG_NUMBER.sub("[号码]", text)
    text = _DOC_TAIL.sub(lambda m: m.group(1) + "****", text)
    return text


def _mask_bare_names(text: str) -> str:
    """Chinese personal names without a trigger word (issue 10, item 5), as jieba's tagger finds them.

    Only names jieba found by itself (not in its dictionary, whose "nr" entries include places such
    as 张家港 and 王府井) that start with a common surname, and a lone surname followed by a given
    name the dictionary knows ("林" + "秀英"). Over-masking an ordinary word would put "**" into
    the training data; a name the tagger misses stays, like any other text.
    """
    if not _CJK.search(text):
        return text
    tokens = [(word, flag) for word, flag in _tagger().cut(text)]
    known = _tagger_dictionary()
    out: list[str] = []
    skip = False
    for index, (word, flag) in enumerate(tokens):
        if skip:
            skip = False
            continue
        nxt = tokens[index + 1] if index + 1 < len(tokens) else ("", "")
        surname = word[:2] if word[:2] in _COMPOUND_SURNAMES else word[:1]
        if flag == "nr" and word not in known and 2 <= len(word) <= 4 and surname in _SURNAMES | _COMPOUND_SURNAMES:
            out.append(surname + "**")
        elif word in _SURNAMES and nxt[1] == "nr" and 1 <= len(nxt[0]) <= 2 and nxt[0][0] not in _SURNAMES:
            out.append(word + "**")
            skip = True
        else:
            out.append(word)
    return "".join(out)


@functools.lru_cache(maxsize=1)
def _tagger():  # noqa: ANN202 - jieba's POSTokenizer
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    return jieba.posseg.dt


def _tagger_dictionary() -> dict[str, str]:
    tagger = _tagger()
    if not tagger.word_tag_tab:
        list(tagger.cut("初始化"))
    return tagger.word_tag_tab


class LogSafe(str):
    """A log argument made to contain nothing personal (a hash, a kind of thing, a route's template).

    A record whose template is a string literal of the code and whose arguments are all LogSafe or
    numbers has nothing to mask or redact: `safe_record` says so, and the masking filter and the
    secret redaction skip it. The desk logs two such lines per citizen message (its own and the access
    log); masking them cost about a tenth of the desk's CPU per message (issue 12).
    """

    __slots__ = ()


_SAFE_ARGUMENTS = (LogSafe, int, float)


def safe_record(record: logging.LogRecord) -> bool:
    """True when the record is a template with arguments, every one of them LogSafe or a number."""
    args = record.args
    return bool(args) and isinstance(args, tuple) and all(isinstance(arg, _SAFE_ARGUMENTS) for arg in args)


class MaskingFilter(logging.Filter):
    """Masks personal data in every log record that passes through."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and not safe_record(record):
            record.msg = mask(record.msg % record.args) if record.args else mask(record.msg)
            record.args = ()
        return True


def install_log_masking() -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(MaskingFilter())
    warm_up_masking()


def warm_up_masking() -> None:
    """jieba's dictionary takes seconds to load (tens on a loaded machine): loaded in the background
    at start, rather than inside the first log call or trainer's inbox request that masks Chinese."""
    import threading

    threading.Thread(target=_tagger_dictionary, name="mask-warmup", daemon=True).start()


# A token in a URL's query (`?token=...`): Rasa's HTTP API takes it there, so it shows in the URL of
# any exception about such a request (issue 10, item 7).
_TOKEN_IN_URL = re.compile(r"((?:[?&]|%3F|%26)token(?:=|%3D))[^&\s'\"<>)]+", re.IGNORECASE)
REDACTED = "[redacted]"
# A conversation id as the desk issues it (bot/desk/ids.py: 32 hex digits, a dash, 16 of tag) is the
# citizen's bearer secret (issue 10, item 1): in a log (an access log's URL, Rasa's sender id) it
# becomes a short hash, the same in every process, so the lines of one conversation still go together.
_CONVERSATION_ID = re.compile(r"(?<![0-9A-Za-z])[0-9a-f]{32}-[0-9a-f]{16}(?![0-9A-Za-z])")


def conversation_ref(conversation_id: str) -> LogSafe:
    """What logs say for a conversation id: "conv:" and 10 hex digits of its SHA-256 (not reversible)."""
    return LogSafe("conv:" + hashlib.sha256(conversation_id.encode()).hexdigest()[:10])


def redact(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """`text` without the given secrets, any `token=` value of a URL, and conversation ids (as `conversation_ref`)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _CONVERSATION_ID.sub(lambda m: conversation_ref(m.group(0)), text)
    return _TOKEN_IN_URL.sub(lambda m: m.group(1) + REDACTED, text)


def install_secret_redaction(secrets: list[str]) -> None:
    """Every log record of this process, from any logger and with its traceback, leaves without the secrets
    (and without conversation ids, see `redact`).

    A record factory rather than a handler filter: it also covers the handlers a library (Rasa,
    Sanic) installs after this call, and records that only propagate to the root logger.
    """
    previous = logging.getLogRecordFactory()
    known = [secret for secret in secrets if secret]

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if safe_record(record) and not record.exc_info:
            return record  # a literal template with hashes and numbers: no secret, no conversation id
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: left to logging's own error report
            return record
        record.msg, record.args = redact(message, known), ()
        if record.exc_info and record.exc_info[1] is not None:
            import traceback

            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"), known)
        return record

    logging.setLogRecordFactory(factory)

"""Issue 10, item 7: the Rasa token is on no command line, and no log carries it."""

from __future__ import annotations

import logging
from pathlib import Path

from bot.privacy import install_secret_redaction, redact


def _command_lines() -> list[str]:
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:  # the process ended meanwhile, or is not ours to read
                continue
    return lines


def test_the_rasa_token_is_on_no_command_line(rasa_stack):
    """`ps` shows every local user each process's command line: the token goes by environment."""
    assert rasa_stack.processes["rasa"].poll() is None
    leaked = [line for line in _command_lines() if rasa_stack.token in line]
    assert not leaked, f"the Rasa token is on a command line: {leaked[0][:80]}..."
    # The stack's logs do not hold it either.
    logs = [path for path in Path(rasa_stack.workdir).rglob("*.log")]
    assert not [path for path in logs if rasa_stack.token in path.read_text(errors="replace")]


def test_log_records_and_tracebacks_lose_the_token():
    token = "t0ken-" + "x" * 20
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(self.format(record))

    handler = Keep()
    logger = logging.getLogger("tests.rasa_token")
    logger.addHandler(handler)
    previous = logging.getLogRecordFactory()
    install_secret_redaction([token])
    try:
        logger.warning("calling %s", f"http://127.0.0.1:5005/status?token={token}")
        try:
            raise ConnectionError(f"cannot reach http://127.0.0.1:5005/model?token={token}&x=1")
        except ConnectionError:
            logger.exception("loading failed")
    finally:
        logging.setLogRecordFactory(previous)
        logger.removeHandler(handler)
    assert len(seen) == 2
    assert not [line for line in seen if token in line]
    assert "token=[redacted]" in seen[1] and "ConnectionError" in seen[1]
    # Any `token=` of a URL, also one this process was not told about.
    assert redact("GET /conversations/x/tracker?token=other-secret HTTP/1.1") == (
        "GET /conversations/x/tracker?token=[redacted] HTTP/1.1"
    )

"""`rasa run` with its API token taken from the environment, not from the command line (issue 10, item 7).

Rasa reads its token only from `--auth-token`, and a command line is readable by every local
user (`ps`, /proc/<pid>/cmdline). This wrapper is started as
`python -m bot.tools.rasa_run run --model ...` with the token in RASA_AUTH_TOKEN (or a 0600 file
named by RASA_AUTH_TOKEN_FILE); it adds `--auth-token` to Rasa's argument list inside this
process, which changes Python's `sys.argv`, not the command line the kernel shows. The token is
also removed from the environment Rasa's own code sees, and redacted from every log record.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bot.privacy import install_secret_redaction

TOKEN_ENV = "RASA_AUTH_TOKEN"
TOKEN_FILE_ENV = "RASA_AUTH_TOKEN_FILE"


def token_from_environment() -> str:
    token = os.environ.pop(TOKEN_ENV, "")
    path = os.environ.pop(TOKEN_FILE_ENV, "")
    if not token and path:
        token = Path(path).read_text(encoding="utf-8").strip()
    return token


def main() -> None:
    token = token_from_environment()
    if not token:
        sys.exit(f"{TOKEN_ENV} or {TOKEN_FILE_ENV} must give the Rasa API token")
    install_secret_redaction([token])
    # One argument, "--auth-token=…": a token_urlsafe token may start with "-", which argparse would
    # take for an option ("expected one argument"; the cluster test failed so once).
    sys.argv = ["rasa", *sys.argv[1:], f"--auth-token={token}"]
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()

"""`python -m bot.desk serve` runs the desk; `python -m bot.desk create-user NAME --role clerk` adds an account;
`python -m bot.desk reset-password NAME` gives an account a new one-time password.

One-time passwords are printed once, to the terminal, and never written to a log (issue 10, item 6).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import sys
from typing import TextIO

import uvloop
from aiohttp import web

from bot.db import Database
from bot.desk.accounts import Accounts, create_user, ensure_first_admin, reset_password
from bot.desk.config import DeskConfig
from bot.privacy import install_log_masking, install_secret_redaction
from bot.roles import ROLES
from bot.server import RUNNER_OPTIONS, create_app


def announce_first_admin(accounts: Accounts, out: TextIO) -> None:
    """On an empty desk, makes the first admin; its one-time password is shown only on a terminal.

    A server's output is usually a log file (bot/tools/stack.py sends it to var/logs/desk.log), and a
    password must never be in a log (issue 10, item 6): elsewhere, the log says how to get one.
    """
    password = ensure_first_admin(accounts)
    if not password:
        return
    if out.isatty():
        print(f"first admin created: name admin, one-time password (valid 24 h) {password}", file=out, flush=True)
    else:
        logging.getLogger(__name__).warning(
            "first admin created: name admin; for its one-time password run "
            "`python -m bot.desk reset-password admin` in a terminal"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.desk")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the desk")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    add = commands.add_parser("create-user", help="add a console account with a one-time password")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--languages", default="", help="languages spoken besides Chinese, e.g. it,en")
    add.add_argument("--display-name", default="", help="the name citizens see (default: the account's number)")
    reset = commands.add_parser("reset-password", help="a new one-time password (valid 24 h); sessions end")
    reset.add_argument("name")
    args = parser.parse_args(argv)

    database = Database()
    database.create_schema()
    accounts = Accounts(database)
    if args.command == "create-user":
        try:
            password = create_user(accounts, args.name, args.role, args.languages, args.display_name)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"user {args.name} ({args.role}) created; one-time password (valid 24 h): {password}")
        return 0
    if args.command == "reset-password":
        try:
            password = reset_password(accounts, args.name)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"user {args.name}: new one-time password (valid 24 h): {password}")
        return 0

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The format names no thread or process: not looked up for every record (two per citizen message).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    install_log_masking()
    config = DeskConfig.from_env()
    # The Rasa token never reaches a log, in a message or in a traceback's URL (issue 10, item 7).
    install_secret_redaction([config.rasa_token])
    announce_first_admin(accounts, sys.stdout)
    app = create_app(config, database)
    # What start-up loaded (the knowledge base and its translations, the app) lives as long as the
    # process: moved out of the cyclic collector's reach, whose collections then walk only what the
    # messages allocate (issue 12).
    gc.collect()
    gc.freeze()
    # uvloop (installed with Rasa's Sanic, which runs on it too): less of the desk's CPU per message
    # goes to the event loop and the sockets.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    # What web.run_app does, with RUNNER_OPTIONS (run_app passes no server options through): aiohttp
    # 3.9.5 must not inflate request bodies (bot/desk/hardening.py). SIGINT/SIGTERM end it cleanly.
    with contextlib.suppress(web.GracefulExit, KeyboardInterrupt):
        asyncio.run(run_server(app, args.host, args.port))
    return 0


async def run_server(app: web.Application, host: str, port: int) -> None:
    runner = web.AppRunner(app, handle_signals=True, shutdown_timeout=5, **RUNNER_OPTIONS)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    sys.exit(main())

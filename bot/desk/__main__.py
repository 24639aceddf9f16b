"""`python -m bot.desk serve` runs the desk; `python -m bot.desk create-user NAME --role clerk` adds an account."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import uvloop
from aiohttp import web

from bot.db import Database
from bot.desk.accounts import Accounts, create_user, ensure_first_admin
from bot.desk.config import DeskConfig
from bot.privacy import install_log_masking
from bot.roles import ROLES
from bot.server import create_app


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
    args = parser.parse_args(argv)

    database = Database()
    database.create_schema()
    accounts = Accounts(database)
    if args.command == "create-user":
        try:
            password = create_user(accounts, args.name, args.role, args.languages)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"user {args.name} ({args.role}) created; one-time password: {password}")
        return 0

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_masking()
    password = ensure_first_admin(accounts)
    if password:
        print(f"first admin created: name admin, one-time password {password}", flush=True)
    app = create_app(DeskConfig.from_env(), database)
    # uvloop (installed with Rasa's Sanic, which runs on it too): less of the desk's CPU per message
    # goes to the event loop and the sockets.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(app, host=args.host, port=args.port, print=None, shutdown_timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())

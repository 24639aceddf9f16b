"""Starts the product's processes: the action server and the Rasa server.

`make run`, the tests and the benchmarks all start the stack through this
module, so there is one way to do it. Every process binds to loopback; the
Rasa HTTP API is protected by a token that only the desk holds.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bot.knowledge.store import PROJECT_ROOT
from bot.secret_files import write_secret
from bot.tools.rasa_cli import quiet_env, train_command

MODELS = PROJECT_ROOT / "models"
VAR = PROJECT_ROOT / "var"
START_TIMEOUT_S = 240


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def train(config: str = "config.yml", out: Path = MODELS, extra_args: list[str] | None = None) -> Path:
    """`rasa train`; Rasa reuses the last model when data and config did not change."""
    subprocess.run(
        train_command(out, config=config, extra_args=extra_args), cwd=PROJECT_ROOT, env=quiet_env(), check=True
    )
    return latest_model(out)


def latest_model(directory: Path = MODELS) -> Path:
    models = sorted(directory.glob("*.tar.gz"), key=lambda path: path.stat().st_mtime)
    if not models:
        raise FileNotFoundError(f"no trained model in {directory}; run `make train`")
    return models[-1]


def _wait_http(url: str, process: subprocess.Popen, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with code {process.returncode}")
        with contextlib.suppress(OSError):  # not listening yet
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


@dataclass
class Stack:
    """The action server and the Rasa server, on loopback ports."""

    model: Path
    database_url: str
    rasa_port: int = field(default_factory=free_port)
    action_port: int = field(default_factory=free_port)
    desk_port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    workdir: Path = VAR
    log_dir: Path | None = None
    # Environment for every process of this stack (e.g. the benchmarks' lifted rate limits).
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        return f"http://127.0.0.1:{self.action_port}"

    @property
    def desk_url(self) -> str:
        return f"http://127.0.0.1:{self.desk_port}"

    def _endpoints(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / f"endpoints-{self.rasa_port}.yml"
        trackers = self.workdir / f"trackers-{self.rasa_port}.db"
        path.write_text(
            f'action_endpoint:\n  url: "{self.action_url}/webhook"\n'
            f'tracker_store:\n  type: SQL\n  dialect: "sqlite"\n  db: "{trackers}"\n',
            encoding="utf-8",
        )
        return path

    def _spawn(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        log_dir = self.log_dir or self.workdir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log = open(log_dir / f"{name}-{self.rasa_port}.log", "ab")
        process = subprocess.Popen(
            args,
            cwd=PROJECT_ROOT,
            env=quiet_env({"DATABASE_URL": self.database_url, **self.extra_env, **(extra_env or {})}),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def start_actions(self) -> None:
        process = self._spawn("actions", [sys.executable, "-m", "bot.actions.server", "--port", str(self.action_port)])
        _wait_http(f"{self.action_url}/health", process)

    def start_rasa(self) -> None:
        # The token goes by environment, never on the command line that `ps` shows (issue 10, item 7):
        # bot/tools/rasa_run.py hands it to Rasa inside the process.
        process = self._spawn(
            "rasa",
            [
                sys.executable,
                "-m",
                "bot.tools.rasa_run",
                "run",
                "--model",
                str(self.model),
                "--enable-api",
                "--interface",
                "127.0.0.1",
                "--port",
                str(self.rasa_port),
                "--credentials",
                "credentials.yml",
                "--endpoints",
                str(self._endpoints()),
            ],
            # The REST channel trusts caller metadata only from the desk, which sends this token.
            {"RASA_AUTH_TOKEN": self.token, "DESK_CHANNEL_SECRET": self.token},
        )
        self._wait_rasa(process)

    def _wait_rasa(self, process: subprocess.Popen) -> None:
        """Rasa's /status answers 200 only with the token; unlike `_wait_http`, no error names the URL."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"Rasa exited with code {process.returncode}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{self.rasa_url}/status?token={self.token}", timeout=2) as reply:
                    if reply.status == 200:
                        return
            time.sleep(0.5)
        raise TimeoutError(f"Rasa did not answer within {START_TIMEOUT_S:.0f} s")

    def start_desk(self) -> None:
        """The desk (widget, console) in front of Rasa; it alone holds the Rasa token."""
        process = self._spawn(
            "desk",
            [sys.executable, "-m", "bot.desk", "serve", "--port", str(self.desk_port)],
            {"DESK_RASA_URL": self.rasa_url, "DESK_RASA_TOKEN": self.token},
        )
        _wait_http(f"{self.desk_url}/health", process)

    def start(self) -> Stack:
        self.start_actions()
        self.start_rasa()
        return self

    def stop_process(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def stop(self) -> None:
        for name in list(self.processes):
            self.stop_process(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the assistant on its embedded defaults.")
    parser.add_argument("command", choices=["run", "train"])
    parser.add_argument("--rasa-port", type=int, default=5005)
    parser.add_argument("--action-port", type=int, default=5055)
    parser.add_argument("--desk-port", type=int, default=8080)
    args = parser.parse_args(argv)

    model = train()
    if args.command == "train":
        return 0
    from bot.db import Database, database_url, seed

    added = seed(Database())
    print(f"database: {database_url()} (demo cases added: {added})")
    from bot.desk.accounts import Accounts, ensure_first_admin

    database = Database()
    database.create_schema()
    admin_password = ensure_first_admin(Accounts(database))
    stack = Stack(
        model=model,
        database_url=database_url(),
        rasa_port=args.rasa_port,
        action_port=args.action_port,
        desk_port=args.desk_port,
    )
    try:
        stack.start()
        stack.start_desk()
        print(
            "\n".join(
                [
                    "",
                    "温州华侨服务助手已启动 / the assistant is running:",
                    f"  Rasa server    {stack.rasa_url}  (API token in var/rasa_token)",
                    f"  action server  {stack.action_url}",
                    "  talk to it:",
                    f"    curl -s {stack.rasa_url}/webhooks/rest/webhook -H 'Content-Type: application/json' \\",
                    '         -d \'{"sender": "demo", "message": "护照过期了怎么换"}\'',
                    "  demo case: WZ202610080017, surname 陈, document ends 5821",
                    f"  widget (citizens)   {stack.desk_url}/demo",
                    f"  console (clerks)    {stack.desk_url}/console",
                    f"  workbench (trainers) {stack.desk_url}/trainer",
                    (
                        f"  first admin: name admin, one-time password {admin_password}"
                        if admin_password
                        else "  console accounts: python -m bot.desk create-user NAME --role clerk"
                    ),
                    "  stop with Ctrl-C",
                ]
            )
        )
        write_secret(VAR / "rasa_token", stack.token)
        while all(process.poll() is None for process in stack.processes.values()):
            time.sleep(1)
        print("a process stopped; see var/logs/", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())

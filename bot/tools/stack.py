"""Starts the product's processes: the action server, the Rasa server and the desk.

`make run`, the tests and the benchmarks all start the stack through this
module, so there is one way to do it. Every process binds to loopback; the
Rasa HTTP API is protected by a token that only the desk holds. Rasa and the
action server run in Rasa's environment (.venv), the desk in its own (.venv-desk,
a current aiohttp): bot/tools/interpreters.py names both.

`make run` supervises what it started (`Stack.supervise`): a process that dies
is started again with backoff and the restart is logged, so one crashed
child never takes the desk and every citizen down with it. Each child runs in
its own process group; Ctrl-C, SIGTERM and SIGHUP stop every group, children
of children included, within a few seconds (`Stack.stop`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bot.knowledge.store import PROJECT_ROOT
from bot.secret_files import write_secret
from bot.tools.interpreters import desk_python, rasa_python
from bot.tools.rasa_cli import quiet_env, train_command

MODELS = PROJECT_ROOT / "models"
VAR = PROJECT_ROOT / "var"
START_TIMEOUT_S = 240
# Restart backoff: 1 s, 2 s, 4 s ... up to 30 s; a process that ran this long before dying starts again at 1 s.
BACKOFF_FIRST_S, BACKOFF_MAX_S, STABLE_AFTER_S = 1.0, 30.0, 60.0
# How long stop() lets the process groups end after SIGTERM before it sends SIGKILL (the desk and the
# Rasa servers wait for open keep-alive connections; nothing acknowledged is only in memory).
STOP_GRACE_S = 3.0

logger = logging.getLogger("bot.stack")


# Below Linux's ephemeral range (32768-60999): a port the kernel hands out for 0 can be taken by some
# process's outgoing connection (a desk to PostgreSQL) before the server meant for it binds it; the
# cluster test lost an action server that way.
_CHOSEN_PORTS = range(20000, 32000)


def free_port() -> int:
    for _ in range(500):
        port = random.choice(_CHOSEN_PORTS)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {_CHOSEN_PORTS}")


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
    # How each process was started (args, environment), so that the supervisor can start it again.
    commands: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)
    started_at: dict[str, float] = field(default_factory=dict)
    # The signal that stops a process quickly and cleanly, when not SIGTERM (PostgreSQL: SIGINT, a fast shutdown).
    stop_signals: dict[str, int] = field(default_factory=dict)

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

    def spawn(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        """Starts any process under this stack's supervision (the cluster's PostgreSQL, Redis, HAProxy...)."""
        return self._spawn(name, args, extra_env)

    def _spawn(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        log_dir = self.log_dir or self.workdir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.commands[name] = (args, dict(extra_env or {}))
        # A stack on free ports (tests) shares var/logs: its logs carry its Rasa port.
        log_name = f"{name}.log" if self.log_dir else f"{name}-{self.rasa_port}.log"
        with open(log_dir / log_name, "ab") as log:
            # Its own session (process group): a Ctrl-C in the terminal reaches only the launcher,
            # which then stops each group as a whole, whatever the child started itself.
            process = subprocess.Popen(
                args,
                cwd=PROJECT_ROOT,
                env=quiet_env({"DATABASE_URL": self.database_url, **self.extra_env, **(extra_env or {})}),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        self.started_at[name] = time.monotonic()
        return process

    def restart(self, name: str) -> subprocess.Popen:
        """Starts a process again as it was started (without waiting for it to answer)."""
        args, extra_env = self.commands[name]
        return self._spawn(name, args, extra_env)

    def supervise(self, should_stop: Callable[[], bool] = lambda: False, poll_s: float = 0.5) -> None:
        """Restarts any process that dies, with backoff, until `should_stop()` (or a signal) ends it.

        The restart is not waited for: the others keep being watched while Rasa loads its model.
        """
        failures: dict[str, int] = {}
        due: dict[str, float] = {}  # name -> when to start it again
        while not should_stop():
            now = time.monotonic()
            for name, process in list(self.processes.items()):
                if name in due or process.poll() is None:
                    continue
                ran = now - self.started_at.get(name, now)
                failures[name] = 1 if ran >= STABLE_AFTER_S else failures.get(name, 0) + 1
                delay = min(BACKOFF_FIRST_S * 2 ** (failures[name] - 1), BACKOFF_MAX_S)
                logger.warning(
                    "%s (pid %d) exited with code %s after %.0f s; restarting in %.0f s",
                    name, process.pid, process.returncode, ran, delay,
                )  # fmt: skip
                _kill_group(process.pid, signal.SIGKILL)  # anything it left behind in its group
                due[name] = now + delay
            for name, when in list(due.items()):
                if now >= when:
                    del due[name]
                    process = self.restart(name)
                    logger.warning("%s restarted (pid %d)", name, process.pid)
            time.sleep(poll_s)

    def start_actions(self) -> None:
        process = self._spawn("actions", [rasa_python(), "-m", "bot.actions.server", "--port", str(self.action_port)])
        _wait_http(f"{self.action_url}/health", process)

    def start_rasa(self) -> None:
        # The token goes by environment, never on the command line that `ps` shows (issue 10, item 7):
        # bot/tools/rasa_run.py hands it to Rasa inside the process.
        process = self._spawn(
            "rasa",
            [
                rasa_python(),
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
            [desk_python(), "-m", "bot.desk", "serve", "--port", str(self.desk_port)],
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
            os.killpg(process.pid, self.stop_signals.get(name, signal.SIGTERM))
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Stops every process group at once: SIGTERM, then SIGKILL for what is left after `grace` s."""
        named = list(self.processes.items())
        processes = [process for _, process in named]
        self.processes.clear()
        for name, process in named:
            _kill_group(process.pid, self.stop_signals.get(name, signal.SIGTERM))
        deadline = time.monotonic() + grace
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
        for process in processes:
            # Also when the leader is gone: something it started may still hold a port.
            _kill_group(process.pid, signal.SIGKILL)
            process.wait()


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class Stopped(Exception):
    """SIGTERM or SIGHUP reached the launcher: stop like Ctrl-C."""


def _stop_on_signal(signum: int, _frame: Any) -> None:
    raise Stopped(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the assistant on its embedded defaults.")
    parser.add_argument("command", choices=["run", "train"])
    parser.add_argument("--rasa-port", type=int, default=5005)
    parser.add_argument("--action-port", type=int, default=5055)
    parser.add_argument("--desk-port", type=int, default=8080)
    parser.add_argument("--model", type=Path, help="serve this model instead of training (tests)")
    parser.add_argument("--workdir", type=Path, default=VAR, help="logs, endpoints, token (default var/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # systemd and container runtimes stop a service with SIGTERM; a closed terminal sends SIGHUP.
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGHUP, _stop_on_signal)

    model = args.model or train()
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
        workdir=args.workdir,
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
        write_secret(args.workdir / "rasa_token", stack.token)
        stack.supervise()
        return 0
    except (KeyboardInterrupt, Stopped) as why:
        logger.info("stopping (%s)", type(why).__name__ if isinstance(why, KeyboardInterrupt) else why)
        return 0
    finally:
        # A second Ctrl-C or SIGTERM while stopping must not leave children behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        logger.info("stopped")


if __name__ == "__main__":
    sys.exit(main())

"""The launcher `make run` uses (bot/tools/stack.py): a child that dies comes back; SIGTERM leaves nothing behind.

One launcher for the module (Rasa takes a while to load), started as `make run` starts it but on free
ports, a temporary database and the model the suite trained. The SIGTERM test runs last: it ends it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.knowledge.store import PROJECT_ROOT
from bot.tools.stack import free_port


@dataclass
class Launcher:
    process: subprocess.Popen
    ports: dict[str, int]
    log: Path


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid` (children, their children...), with its command line, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                try:
                    found[child] = (Path("/proc") / str(child) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                except OSError:
                    continue
                frontier.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def health(port: int, path: str = "/health") -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def port_free(port: int) -> bool:
    """Whether a new server could listen on the port now (as the servers do, SO_REUSEADDR: the closed
    connections' TIME_WAIT does not count, a process still listening does)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
    return True


def wait_until(check, timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.3)
    raise AssertionError(f"{what} not within {timeout:.0f} s")


@pytest.fixture(scope="module")
def launcher(trained_model, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("launcher")
    ports = {"rasa": free_port(), "actions": free_port(), "desk": free_port()}
    log = workdir / "launcher.log"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{workdir / 'launcher.db'}"}
    args = [sys.executable, "-m", "bot.tools.stack", "run", "--model", str(trained_model), "--workdir", str(workdir)]
    args += ["--rasa-port", str(ports["rasa"]), "--action-port", str(ports["actions"]), "--desk-port", str(ports["desk"])]
    with open(log, "wb") as out:
        process = subprocess.Popen(args, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: process.poll() is None and health(ports["desk"]) == 200, 300, "the launcher's desk")
        yield Launcher(process, ports, log)
    finally:
        # Whatever a failed test left: the launcher and every group it started.
        for pid in descendants(process.pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        process.kill()
        process.wait()


def test_health_endpoints_report_what_each_process_depends_on(launcher):
    with urllib.request.urlopen(f"http://127.0.0.1:{launcher.ports['desk']}/health", timeout=5) as reply:
        desk = json.load(reply)
    assert desk == {"status": "ok", "checks": {"database": True, "rasa": True}}
    with urllib.request.urlopen(f"http://127.0.0.1:{launcher.ports['actions']}/health", timeout=5) as reply:
        assert json.load(reply)["checks"] == {"database": True}
    with urllib.request.urlopen(f"http://127.0.0.1:{launcher.ports['rasa']}/webhooks/rest/", timeout=5) as reply:
        assert json.load(reply)["checks"]["model"] is True


def test_a_killed_action_server_is_started_again(launcher):
    before = [pid for pid, line in descendants(launcher.process.pid).items() if "bot.actions.server" in line]
    assert len(before) == 1
    os.kill(before[0], signal.SIGKILL)
    wait_until(lambda: health(launcher.ports["actions"]) is None, 10, "the action server going down")
    took = wait_until(lambda: health(launcher.ports["actions"]) == 200, 90, "the action server back")
    after = [pid for pid, line in descendants(launcher.process.pid).items() if "bot.actions.server" in line]
    assert after and after != before
    assert launcher.process.poll() is None, "the launcher must keep running"
    assert health(launcher.ports["desk"]) == 200, "the desk must not have gone down with it"
    text = launcher.log.read_text(errors="replace")
    assert f"actions (pid {before[0]}) exited with code -9" in text and "actions restarted" in text
    print(f"action server back in {took:.1f} s after kill -9")


def test_sigterm_to_the_launcher_leaves_no_process_and_no_port(launcher):
    children = descendants(launcher.process.pid)
    assert len(children) >= 3, children
    start = time.monotonic()
    launcher.process.send_signal(signal.SIGTERM)
    launcher.process.wait(timeout=15)
    took = time.monotonic() - start
    assert took < 10, f"stopping took {took:.1f} s"
    left = [f"{pid} {line}" for pid, line in children.items() if alive(pid)]
    assert not left, left
    busy = [name for name, port in launcher.ports.items() if not port_free(port)]
    assert not busy, busy
    print(f"launcher and {len(children)} processes stopped in {took:.1f} s")

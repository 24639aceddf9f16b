"""`make cluster`: the assistant as a cluster on loopback, as deploy/cluster.yml describes it.

PostgreSQL, Redis and HAProxy (installed from Debian's packages when missing, deploy/install.sh),
then two action servers, two desks and two Rasa servers behind HAProxy, all supervised by the same
launcher as `make run` (bot/tools/stack.py): a process that dies is started again with backoff;
Ctrl-C or SIGTERM stops everything. The cluster test (tests/cluster/) and `make bench-cluster`
start the same cluster on free ports (`ClusterConfig.on_free_ports`).

PostgreSQL and Redis run as this launcher's children with their data under the work directory
(var/cluster/ by default), not as the machine's services, so that nothing outlives Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from bot.knowledge.store import PROJECT_ROOT
from bot.tools.interpreters import desk_python, rasa_python
from bot.tools.stack import START_TIMEOUT_S, Stack, Stopped, _stop_on_signal, free_port, train

DEPLOY = PROJECT_ROOT / "deploy"
logger = logging.getLogger("bot.cluster")


def _split(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


@dataclass
class ClusterConfig:
    """deploy/cluster.yml: where everything listens, and the credentials for PostgreSQL and Redis."""

    postgres: dict[str, Any]
    redis: dict[str, Any]
    haproxy: dict[str, str]
    processes: dict[str, list[str]]
    models_dir: str = "models"

    @classmethod
    def load(cls, path: Path = DEPLOY / "cluster.yml") -> ClusterConfig:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        config = cls(**data)
        if os.environ.get("WENZHOU_PG_PASSWORD"):
            config.postgres = {**config.postgres, "password": os.environ["WENZHOU_PG_PASSWORD"]}
        return config

    def on_free_ports(self) -> ClusterConfig:
        """The same cluster on free loopback ports (tests, benchmarks, beside a running `make cluster`)."""
        def port() -> str:
            return f"127.0.0.1:{free_port()}"

        return replace(
            self,
            postgres={**self.postgres, "port": free_port()},
            redis={**self.redis, "port": free_port()},
            haproxy={name: port() for name in self.haproxy},
            processes={kind: [port() for _ in addresses] for kind, addresses in self.processes.items()},
        )

    @property
    def database_url(self) -> str:
        pg = self.postgres
        return f"postgresql+psycopg2://{pg['user']}:{pg['password']}@{pg['host']}:{pg['port']}/{pg['database']}"

    @property
    def redis_url(self) -> str:
        return f"redis://{self.redis['host']}:{self.redis['port']}/0"

    def url(self, frontend: str) -> str:
        return f"http://{self.haproxy[frontend]}"

    def environment(self) -> dict[str, str]:
        """The WENZHOU_* variables deploy/haproxy.cfg and deploy/endpoints.yml read."""
        pg, env = self.postgres, {}
        env.update(
            WENZHOU_PG_HOST=str(pg["host"]), WENZHOU_PG_PORT=str(pg["port"]), WENZHOU_PG_USER=pg["user"],
            WENZHOU_PG_PASSWORD=pg["password"], WENZHOU_PG_TRACKERS=pg["trackers"],
            WENZHOU_REDIS_HOST=str(self.redis["host"]), WENZHOU_REDIS_PORT=str(self.redis["port"]),
        )  # fmt: skip
        for frontend, address in self.haproxy.items():
            env[f"WENZHOU_HAPROXY_{frontend.upper()}"] = address
        for kind, addresses in self.processes.items():
            for number, address in enumerate(addresses, 1):
                env[f"WENZHOU_{kind.upper()}_{number}"] = address
        return env


def _postgres_bin(program: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise FileNotFoundError(f"PostgreSQL's {program} not found; run deploy/install.sh")
    return found[-1]


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: then it runs as Debian's `postgres` user."""
    if os.geteuid() != 0:
        return args
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *args]


def _get(url: str, timeout: float = 2) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def wait_for(check: Any, what: str, process: subprocess.Popen | None = None, timeout: float = START_TIMEOUT_S) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        if check():
            return time.monotonic() - start
        time.sleep(0.3)
    raise TimeoutError(f"{what} not ready within {timeout:.0f} s")


@dataclass
class Cluster:
    config: ClusterConfig
    model: Path
    workdir: Path = PROJECT_ROOT / "var" / "cluster"
    # Environment for the assistant's processes (e.g. the benchmarks' lifted rate limits).
    extra_env: dict[str, str] = field(default_factory=dict)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    model_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # PostgreSQL's data and socket directories (default: the work directory). They must stay reachable by
    # the `postgres` user: a test's tmp_path is not (pytest makes its root 0700 again at every session).
    data_dir: Path | None = None
    stack: Stack = field(init=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()
        self.stack = Stack(
            model=self.model,
            database_url=self.config.database_url,
            workdir=self.workdir,
            log_dir=self.workdir / "logs",
            extra_env=self.extra_env,
            stop_signals={"postgres": signal.SIGINT},
        )

    # --- infrastructure --------------------------------------------------------------------

    @staticmethod
    def install() -> None:
        """PostgreSQL, Redis and HAProxy from Debian's packages when missing."""
        subprocess.run(["bash", str(DEPLOY / "install.sh")], check=True)

    def start_postgres(self) -> None:
        pg = self.config.postgres
        base = Path(self.data_dir or self.workdir).resolve()
        data, sockets = base / "pg", base / "pg-run"
        if os.geteuid() == 0:
            # PostgreSQL runs as `postgres`: it must be able to reach its directories.
            for parent in [base, *base.parents]:
                with contextlib.suppress(OSError):
                    parent.chmod(parent.stat().st_mode | 0o011)
        if not (data / "PG_VERSION").exists():
            data.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(data, "postgres", "postgres")
            subprocess.run(
                _as_postgres([_postgres_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                              "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"]),
                check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
        sockets.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(sockets, "postgres", "postgres")
        process = self.stack.spawn(
            "postgres",
            _as_postgres([_postgres_bin("postgres"), "-D", str(data), "-p", str(pg["port"]),
                          "-c", f"listen_addresses={pg['host']}", "-c", f"unix_socket_directories={sockets}",
                          "-c", "max_connections=200", "-c", "fsync=on"]),
        )  # fmt: skip
        psql = [_postgres_bin("psql"), "-h", str(sockets), "-p", str(pg["port"]), "-U", "postgres", "-qtA"]
        ready = lambda: subprocess.run([*psql, "-c", "select 1"], capture_output=True).returncode == 0  # noqa: E731
        wait_for(ready, "PostgreSQL", process, timeout=60)

        def sql(statement: str, database: str = "postgres") -> str:
            done = subprocess.run([*psql, "-d", database, "-c", statement], capture_output=True, text=True, check=True)
            return done.stdout.strip()

        user, password = pg["user"], pg["password"].replace("'", "''")
        if not sql(f"select 1 from pg_roles where rolname='{user}'"):
            sql(f"create role {user} login password '{password}'")
        else:
            sql(f"alter role {user} password '{password}'")
        for database in (pg["database"], pg["trackers"]):
            if not sql(f"select 1 from pg_database where datname='{database}'"):
                sql(f"create database {database} owner {user}")

    def start_redis(self) -> None:
        redis = self.config.redis
        process = self.stack.spawn(
            "redis",
            ["redis-server", "--bind", str(redis["host"]), "--port", str(redis["port"]), "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), "--daemonize", "no"],
        )  # fmt: skip
        wait_for(lambda: self.redis_ping(), "Redis", process, timeout=30)

    def redis_ping(self) -> bool:
        import redis

        with contextlib.suppress(redis.RedisError):
            return bool(redis.Redis(self.config.redis["host"], int(self.config.redis["port"]), socket_timeout=1).ping())
        return False

    def start_haproxy(self) -> None:
        process = self.stack.spawn(
            "haproxy", [shutil.which("haproxy") or "/usr/sbin/haproxy", "-db", "-f", str(DEPLOY / "haproxy.cfg")],
            self.config.environment(),
        )
        wait_for(lambda: _get(self.config.url("stats")) == 200, "HAProxy", process, timeout=30)

    # --- the assistant ---------------------------------------------------------------------

    def prepare_database(self) -> str | None:
        """Schema, demo cases, the first admin (its one-time password, or None when it exists)."""
        import bot.trainer.tables  # noqa: F401  (every table of the desk and the workbench, created here once)
        from bot.db import Database, seed
        from bot.desk.accounts import Accounts, ensure_first_admin

        database = Database(self.config.database_url)
        database.create_schema()
        seed(database)
        password = ensure_first_admin(Accounts(database))
        database.dispose()
        return password

    def _desk_env(self) -> dict[str, str]:
        models_dir = Path(self.config.models_dir)
        return {
            "DESK_RASA_URL": self.config.url("rasa"),
            "DESK_RASA_TOKEN": self.token,
            "DESK_REDIS_URL": self.config.redis_url,
            "DESK_MODEL_TOKEN": self.model_token,
            "DESK_INITIAL_MODEL": str(self.model),
            "DESK_TRUSTED_PROXIES": "127.0.0.1",
            # Where citizens reach the desks (HAProxy): the links to files that rasa-webchat gets are
            # absolute, and a file sent on one desk reaches a rasa-webchat citizen on the other.
            "DESK_PUBLIC_URL": os.environ.get("DESK_PUBLIC_URL") or self.config.url("desk"),
            "MODELS_DIR": str(models_dir if models_dir.is_absolute() else PROJECT_ROOT / models_dir),
        }

    def start_actions(self, number: int) -> subprocess.Popen:
        host, port = _split(self.config.processes["actions"][number - 1])
        return self.stack.spawn(
            f"actions-{number}", [rasa_python(), "-m", "bot.actions.server", "--host", host, "--port", str(port)]
        )

    def start_desk(self, number: int) -> subprocess.Popen:
        host, port = _split(self.config.processes["desk"][number - 1])
        return self.stack.spawn(
            f"desk-{number}",
            [desk_python(), "-m", "bot.desk", "serve", "--host", host, "--port", str(port)],
            self._desk_env(),
        )

    def start_rasa(self, number: int) -> subprocess.Popen:
        host, port = _split(self.config.processes["rasa"][number - 1])
        # No --model: each replica pulls the live model from the desks (deploy/endpoints.yml `models`).
        # The API token by environment, never on the command line (bot/tools/rasa_run.py, as `make run`).
        return self.stack.spawn(
            f"rasa-{number}",
            [rasa_python(), "-m", "bot.tools.rasa_run", "run", "--enable-api", "--interface", host, "--port", str(port),
             "--credentials", "credentials.yml", "--endpoints", str(DEPLOY / "endpoints.yml")],
            {**self.config.environment(), "WENZHOU_MODEL_TOKEN": self.model_token,
             "RASA_AUTH_TOKEN": self.token, "DESK_CHANNEL_SECRET": self.token},
        )  # fmt: skip

    def health(self, kind: str, number: int) -> int | None:
        path = {"desk": "/health", "actions": "/health", "rasa": "/webhooks/rest/"}[kind]
        return _get(f"http://{self.config.processes[kind][number - 1]}{path}")

    def start(self, install: bool = True) -> Cluster:
        if install:
            self.install()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.start_postgres()
        self.start_redis()
        self.start_haproxy()
        self.admin_password = self.prepare_database()
        count = {kind: len(addresses) for kind, addresses in self.config.processes.items()}
        started = {f"actions-{n}": self.start_actions(n) for n in range(1, count["actions"] + 1)}
        started |= {f"desk-{n}": self.start_desk(n) for n in range(1, count["desk"] + 1)}
        # The desks first: the Rasa servers pull their model from them.
        for name, process in started.items():
            kind, number = name.rsplit("-", 1)
            wait_for(lambda k=kind, n=int(number): self.health(k, n) == 200, name, process)
        rasas = {n: self.start_rasa(n) for n in range(1, count["rasa"] + 1)}
        for number, process in rasas.items():
            wait_for(lambda n=number: self.health("rasa", n) == 200, f"rasa-{number}", process)
        (self.workdir / "rasa_token").write_text(self.token, encoding="utf-8")
        return self

    def supervise_in_background(self) -> threading.Event:
        """The supervisor in a thread (tests, benchmarks); set the returned event to end it."""
        done = threading.Event()
        thread = threading.Thread(target=self.stack.supervise, args=(done.is_set,), daemon=True)
        thread.start()
        return done

    def stop(self) -> None:
        self.stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the assistant as a cluster on loopback (deploy/).")
    parser.add_argument("--config", type=Path, default=DEPLOY / "cluster.yml")
    parser.add_argument("--workdir", type=Path, default=PROJECT_ROOT / "var" / "cluster")
    parser.add_argument("--model", type=Path, help="the model to start with (default: train, as make run)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGHUP, _stop_on_signal)
    config = ClusterConfig.load(args.config)
    Cluster.install()
    model = args.model or train()
    cluster = Cluster(config, model.resolve(), args.workdir)
    try:
        cluster.start(install=False)
        desk = config.url("desk")
        print(
            "\n".join(
                [
                    "",
                    "温州华侨服务助手（集群）已启动 / the cluster is running (deploy/cluster.yml):",
                    f"  widget (citizens)    {desk}/demo",
                    f"  console (clerks)     {desk}/console",
                    f"  workbench (trainers) {desk}/trainer",
                    (
                        f"  first admin: name admin, one-time password {cluster.admin_password}"
                        if cluster.admin_password
                        else "  console accounts: DATABASE_URL=... python -m bot.desk create-user NAME --role clerk"
                    ),
                    f"  HAProxy status       {config.url('stats')}/",
                    f"  Rasa (desks only)    {config.url('rasa')}  (API token in {cluster.workdir / 'rasa_token'})",
                    f"  PostgreSQL           {config.database_url.replace(config.postgres['password'], '***')}",
                    f"  Redis                {config.redis_url}",
                    "  " + ", ".join(f"{kind} {' '.join(a)}" for kind, a in config.processes.items()),
                    f"  logs in {cluster.workdir / 'logs'}; stop with Ctrl-C",
                ]
            ),
            flush=True,
        )
        cluster.stack.supervise()
        return 0
    except (KeyboardInterrupt, Stopped) as why:
        logger.info("stopping (%s)", why or type(why).__name__)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        cluster.stop()
        logger.info("stopped")


if __name__ == "__main__":
    sys.exit(main())

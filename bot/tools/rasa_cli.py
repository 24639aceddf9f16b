"""The `rasa` command lines the project runs, written once: `make train` (bot/tools/stack.py)
and the trainer's background jobs (bot/trainer/jobs.py) both build them here."""

from __future__ import annotations

import os
from pathlib import Path

from bot.knowledge.store import PROJECT_ROOT
from bot.tools.interpreters import rasa_command

# Rasa's environment (.venv), also when the caller is the desk's (.venv-desk: the workbench's training jobs).
RASA = rasa_command()
DATA = "bot/data"
DOMAIN = "domain.yml"


def quiet_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a Rasa (or project) subprocess: TensorFlow and SQLAlchemy quiet, the project importable."""
    env = dict(os.environ)
    env.update({"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(PROJECT_ROOT), "SQLALCHEMY_SILENCE_UBER_WARNING": "1"})
    env.update(extra or {})
    return env


def train_command(
    out: Path | str, data: Path | str = DATA, config: str = "config.yml", extra_args: list[str] | None = None
) -> list[str]:
    """`rasa train`; without --force Rasa reuses the last model when data and config did not change."""
    return [
        RASA, "train", "--data", str(data), "--config", config, "--domain", DOMAIN, "--out", str(out),
        *(extra_args or []),
    ]  # fmt: skip


def validate_command(data: Path | str = DATA, config: str = "config.yml") -> list[str]:
    return [RASA, "data", "validate", "--data", str(data), "--domain", DOMAIN, "--config", config]

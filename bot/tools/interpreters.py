"""The two Python environments, named once.

Rasa 3.6.21 pins aiohttp < 3.10, so the Rasa server, `rasa train`, the evaluations and the action server run
in `.venv` (RASA_PYTHON), and the desk (widget, console, workbench, reports) runs in `.venv-desk` (DESK_PYTHON),
on a current aiohttp: it loads no Rasa module (tests/test_environments.py checks it). `make run` and `make test`
install both. Each can be pointed elsewhere by environment, e.g. WZ_DESK_PYTHON=.venv/bin/python runs the
desk on Rasa's aiohttp for a benchmark against the old one. When a default environment is absent (the
project installed in one environment by hand), the running interpreter stands in for it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bot.knowledge.store import PROJECT_ROOT

RASA_VENV = PROJECT_ROOT / ".venv"
DESK_VENV = PROJECT_ROOT / ".venv-desk"


def _python(variable: str, venv: Path) -> str:
    if os.environ.get(variable):
        return os.environ[variable]
    default = venv / "bin" / "python"
    return str(default) if default.exists() else sys.executable


def rasa_python() -> str:
    """Rasa's environment: the Rasa server, `rasa` commands, the evaluations, the action server."""
    return _python("WZ_RASA_PYTHON", RASA_VENV)


def desk_python() -> str:
    """The desk's environment (aiohttp >= 3.14.1, no Rasa)."""
    return _python("WZ_DESK_PYTHON", DESK_VENV)


def rasa_command() -> str:
    """The `rasa` console script beside Rasa's interpreter (not resolved: a venv's python is a symlink)."""
    return str(Path(rasa_python()).parent / "rasa")

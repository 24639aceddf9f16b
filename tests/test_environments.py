"""The two environments (bot/tools/interpreters.py, bot/tools/run_tests.py): each test file is declared
for the one its imports need, and the desk's is what it claims: a current aiohttp, no Rasa module.

Static where it can be (each file's imports, read with `ast`), so a file in the wrong place fails here
with its name, before its own tests fail or, worse, pass on the wrong aiohttp.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
from pathlib import Path

import pytest

from bot.knowledge.store import PROJECT_ROOT
from bot.tools.interpreters import desk_python, rasa_python
from bot.tools.rasa_cli import quiet_env
from bot.tools.run_tests import all_test_files, environment_of

PROJECT_PACKAGES = ("bot", "tests", "bench")
# What only Rasa's environment has (rasa-sdk brings Sanic).
RASA_ONLY = {"rasa", "rasa_sdk", "sanic"}
# A test that imports these (in any function) or asks for these fixtures runs the desk in its own process.
RUNS_THE_DESK = {"aiohttp", "socketio", "tests.desk.helpers", "bot.server", "bot.desk.app", "bot.trainer.app", "bot.reports.app"}
DESK_FIXTURES = {"desk", "desk_without_rasa"}
# The applications the desk's process serves (bot/server.py composes them); none may load Rasa.
DESK_MODULES = ["bot.server", "bot.desk.app", "bot.desk.__main__", "bot.trainer.app", "bot.reports.app"]
FIXED_AIOHTTP = (3, 14, 1)  # pipelined requests (CVE-2026-54273), the C parser's max_line_size bypass


def module_file(name: str) -> Path | None:
    base = PROJECT_ROOT.joinpath(*name.split("."))
    return next((path for path in (base.with_suffix(".py"), base / "__init__.py") if path.exists()), None)


@functools.cache
def imports_of(path: Path, at_import_only: bool) -> frozenset[str]:
    """The absolute module names a file imports: at import time only, or also inside its functions."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if at_import_only and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.add(child.module)
                # `from package import submodule` loads the submodule.
                found.update(f"{child.module}.{a.name}" for a in child.names if module_file(f"{child.module}.{a.name}"))
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return frozenset(found)


def loaded_by(names: frozenset[str]) -> set[str]:
    """Every module importing `names` loads, following the project's own modules at import time."""
    loaded: set[str] = set()
    todo = [".".join(name.split(".")[: i + 1]) for name in names for i in range(name.count(".") + 1)]
    while todo:
        name = todo.pop()
        if name in loaded:
            continue
        loaded.add(name)
        path = module_file(name) if name.split(".")[0] in PROJECT_PACKAGES else None
        if path:
            todo += [".".join(n.split(".")[: i + 1]) for n in imports_of(path, True) for i in range(n.count(".") + 1)]
    return loaded


def needs_rasa(path: Path) -> set[str]:
    return {name for name in loaded_by(imports_of(path, False)) if name in RASA_ONLY}


def runs_the_desk(path: Path) -> set[str]:
    reasons = set(imports_of(path, False)) & RUNS_THE_DESK
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            reasons |= {f"fixture {a.arg}" for a in node.args.args if a.arg in DESK_FIXTURES}
    # A test module imported for its fixtures or helpers brings its needs along.
    for name in imports_of(path, False):
        other = module_file(name)
        if name.startswith("tests.") and other and other.name.startswith("test_") and runs_the_desk(other):
            reasons.add(name)
    return reasons


@pytest.mark.parametrize("name", all_test_files())
def test_each_test_file_is_declared_for_the_environment_its_imports_need(name):
    path = PROJECT_ROOT / name
    rasa, desk = needs_rasa(path), runs_the_desk(path)
    assert not (rasa and desk), f"{name} needs Rasa ({sorted(rasa)}) and runs the desk ({sorted(desk)}): split it"
    if rasa:
        assert environment_of(name) == "rasa", f"{name} loads {sorted(rasa)}: declare it for .venv (run_tests.py)"
    if desk:
        assert environment_of(name) == "desk", f"{name} runs the desk ({sorted(desk)}): declare it for .venv-desk"


def test_the_check_tells_a_desk_test_from_a_rasa_test():
    # The rules above, on files whose needs are known: the check itself can fail.
    assert needs_rasa(PROJECT_ROOT / "tests/test_nlu_components.py") and not runs_the_desk(
        PROJECT_ROOT / "tests/test_nlu_components.py"
    )
    assert runs_the_desk(PROJECT_ROOT / "tests/desk/test_api.py") and not needs_rasa(PROJECT_ROOT / "tests/desk/test_api.py")
    assert "tests.trainer.test_api" in runs_the_desk(PROJECT_ROOT / "tests/trainer/test_languages.py")


def _probe(python: str) -> dict:
    code = (
        "import importlib, importlib.util, json, sys\n"
        f"for name in {DESK_MODULES!r}: importlib.import_module(name)\n"
        "from bot.server import create_app\n"
        "from bot.desk import DeskConfig\n"
        "create_app(DeskConfig(database_url='sqlite://', rasa_url='http://127.0.0.1:9', rasa_token='x'))\n"
        "import aiohttp\n"
        "print(json.dumps({'aiohttp': aiohttp.__version__, 'rasa_installed': importlib.util.find_spec('rasa') is not None,"
        " 'loaded': sorted(n for n in sys.modules if n.split('.')[0] in ('rasa', 'rasa_sdk', 'sanic'))}))\n"
    )
    done = subprocess.run([python, "-c", code], cwd=PROJECT_ROOT, env=quiet_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_desk_environment_has_a_fixed_aiohttp_and_no_rasa():
    desk = _probe(desk_python())
    assert tuple(int(part) for part in desk["aiohttp"].split(".")[:3]) >= FIXED_AIOHTTP, desk
    assert not desk["rasa_installed"] and not desk["loaded"], desk


def test_the_desk_loads_no_rasa_module_even_where_rasa_is_installed():
    # In .venv-desk Rasa cannot load at all; in Rasa's environment, an import that would need it shows.
    rasa = _probe(rasa_python())
    assert rasa["rasa_installed"], rasa
    assert rasa["loaded"] == [], rasa

"""Wall time of a full `rasa train --force` and of an NLU-only retrain (`rasa train nlu`).

    python -m bench.training

Both train into a temporary directory, so models/ is left alone, and each starts from an
empty Rasa training cache (a cold training, as on a fresh machine). Target (issue 5):
under 5 minutes for the full training. Writes results/training.{md,json}.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import markdown_table, write_json, write_text
from bot.knowledge.store import PROJECT_ROOT
from bot.tools.rasa_cli import DATA, RASA, quiet_env, train_command

TARGET_S = 300.0
LIMIT_S = 900


def timed(args: list[str], cache: Path) -> tuple[float, bool, str]:
    """Runs with an empty Rasa training cache of its own, so nothing is restored from earlier runs."""
    env = quiet_env({"RASA_CACHE_DIRECTORY": str(cache)})
    started = time.perf_counter()
    try:
        run = subprocess.run(
            args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=LIMIT_S, check=False
        )
        ok, tail = run.returncode == 0, (run.stdout + run.stderr)[-600:]
    except subprocess.TimeoutExpired:
        ok, tail = False, f"timed out after {LIMIT_S} s"
    return time.perf_counter() - started, ok, tail


def measure() -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="wz-train-") as out:
        commands = {
            "full (rasa train --force)": train_command(Path(out) / "full", extra_args=["--force"]),
            "NLU only (rasa train nlu)": [
                RASA, "train", "nlu", "--nlu", DATA, "--config", "config.yml", "--out", str(Path(out) / "nlu"),
            ],
        }  # fmt: skip
        for name, args in commands.items():
            seconds, ok, tail = timed(args, Path(out) / f"cache-{len(rows)}")
            rows.append({"run": name, "seconds": round(seconds, 1), "ok": ok, **({} if ok else {"log_tail": tail})})
            print(f"  {name}: {seconds:.1f} s{'' if ok else ' (FAILED)'}", flush=True)
    full = rows[0]
    check = {
        "figure": "full training wall time (rasa train --force)",
        "value": f"{full['seconds']:.0f} s" if full["ok"] else "failed",
        "target": f"< {TARGET_S:.0f} s",
        "met": full["ok"] and full["seconds"] < TARGET_S,
    }
    text = "# Training wall time (this machine)\n\n" + markdown_table(
        ["run", "seconds", "ok"], [[r["run"], r["seconds"], r["ok"]] for r in rows]
    )
    text += f"\nTarget: full training under {TARGET_S:.0f} s — {'met' if check['met'] else 'MISSED'}.\n"
    write_text("training.md", text)
    data = {"rows": rows, "check": check}
    write_json("training", data)
    return data


def main() -> int:
    measure()
    print("written: results/training.md, results/training.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())

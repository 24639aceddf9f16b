"""Issue 10, smaller item: the training YAML is rewritten under a lock and replaced atomically."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from bot.trainer.nlu_files import NLU_DIR, add_correction, corrections


def test_concurrent_corrections_are_all_kept(tmp_path: Path):
    nlu_dir = tmp_path / "nlu"
    shutil.copytree(NLU_DIR / "zh", nlu_dir / "zh")
    texts = [f"并发写入的例句{i}" for i in range(24)]
    start = threading.Barrier(len(texts))

    def write(text: str) -> None:
        start.wait()
        add_correction("greet", text, nlu_dir)

    threads = [threading.Thread(target=write, args=(text,)) for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kept = corrections(nlu_dir).get("greet", set())
    assert all(any(text in example for example in kept) for text in texts), sorted(kept)
    # No temporary file is left next to the data.
    assert not list(nlu_dir.rglob("*.tmp"))

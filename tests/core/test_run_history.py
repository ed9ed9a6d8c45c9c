"""semicl.experiments.run.write_history: the one loss-history CSV writer (run folders,
plugin sessions)."""

from __future__ import annotations

import numpy as np

from semicl.experiments.run import write_history


def test_write_history_rows(tmp_path):
    rows = [["global", 1, 2.5], ("local", 2, np.float32(0.123456789)), ["finetune", 3, 1e-7]]
    path = write_history(tmp_path / "history.csv", rows)
    assert path == tmp_path / "history.csv"
    assert path.read_text().splitlines() == ["stage,step,loss", "global,1,2.5",
                                             "local,2,0.123457", "finetune,3,1e-07"]
    write_history(path, [])  # replaced whole, atomically
    assert path.read_text() == "stage,step,loss\n"
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]

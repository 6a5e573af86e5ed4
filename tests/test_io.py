"""Atomic outputs: readable by the group like any plain file, and no leftovers of killed jobs."""

import os
import stat

from dpharm.io import remove_unfinished_files, write_json


def test_outputs_get_the_mode_of_a_plainly_created_file(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644  # mkstemp alone gives 0600


def test_unfinished_files_are_removed_and_nothing_else(tmp_path):
    runs = tmp_path / "results" / "runs" / "x"
    runs.mkdir(parents=True)
    leftovers = [runs / ".model.pt.abc123.tmp", tmp_path / "results" / "raw" / ".train.gz.xyz.part"]
    kept = [runs / "model.pt", runs / "metrics.json", runs / ".hidden_but_finished"]
    leftovers[1].parent.mkdir(parents=True)
    for path in leftovers + kept:
        path.write_text("x")
    assert sorted(remove_unfinished_files(tmp_path / "results")) == sorted(leftovers)
    assert all(path.exists() for path in kept) and not any(path.exists() for path in leftovers)

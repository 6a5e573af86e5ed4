"""Atomic outputs: readable by the group like any plain file, and no leftovers of killed jobs."""

import os
import stat

import pytest

from dpharm.io import CorruptFileError, read_json, read_npz, remove_unfinished_files, write_json


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


def test_an_unusable_intermediate_is_removed_but_an_unreadable_one_is_kept(tmp_path, monkeypatch):
    """Binary junk where JSON or an .npz belongs is removed (a rerun remakes it); a file that cannot
    be opened for its permissions or fails in the system (EIO) may be intact, so it stays, and its
    error is raised."""
    junk = [tmp_path / "metrics.json", tmp_path / "data.npz"]
    for path in junk:
        path.write_bytes(b"\xff\xfe\x00not what it should be")
    for path, read in zip(junk, (read_json, lambda p: read_npz(p, ("x",))), strict=True):
        with pytest.raises(CorruptFileError, match=str(path.resolve())):
            read(path)
        assert not path.exists()

    kept = tmp_path / "record.json"
    write_json(kept, {"x": 1})

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(kept))

    def failing_disk(*args, **kwargs):
        raise OSError(5, "Input/output error", str(kept))

    for failure in (refused, failing_disk):
        monkeypatch.setattr("pathlib.Path.read_text", failure)
        with pytest.raises(OSError, match="error|denied"):
            read_json(kept)
        monkeypatch.undo()
    assert read_json(kept) == {"x": 1}
    with pytest.raises(IsADirectoryError):  # a folder where a file belongs is never removed
        read_json(tmp_path)
    assert tmp_path.is_dir()


def test_a_junk_checkpoint_is_removed(tmp_path):
    from dpharm.training.model import build_model, load_checkpoint
    from dpharm.training.settings import ModelSettings

    path = tmp_path / "model.pt"
    path.write_bytes(b"\x80\x04junk, not a checkpoint")  # a pickle header: torch raises UnpicklingError
    model = build_model(ModelSettings(width=4, init_std=0.1, frozen_fraction=0.0), 16, 2, seed=0)
    with pytest.raises(CorruptFileError, match="removed it"):
        load_checkpoint(path, model, "eps=1", seed=0)
    assert not path.exists()


CHECKPOINT_SCRIPT = """
import sys
from dpharm.training.model import build_model, save_checkpoint
from dpharm.training.settings import ModelSettings
model = build_model(ModelSettings(width=4, init_std=0.1, frozen_fraction=0.5), 16, 2, seed=3)
save_checkpoint(sys.argv[1], {"eps=1": model, "eps=inf": model}, seed=3)
"""


def test_checkpoints_are_byte_identical_across_reruns(tmp_path):
    """Two processes saving the same models to differently named files write the same bytes
    (a rerun's checkpoint can be compared with `cmp`)."""
    import subprocess
    import sys

    import torch

    from dpharm.training.model import build_model, load_checkpoint
    from dpharm.training.settings import ModelSettings

    paths = [tmp_path / "first" / "model.pt", tmp_path / "model.pt"]
    for path in paths:
        path.parent.mkdir(exist_ok=True)
        subprocess.run([sys.executable, "-c", CHECKPOINT_SCRIPT, str(path)], check=True)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    settings = ModelSettings(width=4, init_std=0.1, frozen_fraction=0.5)
    loaded = load_checkpoint(paths[0], build_model(settings, 16, 2, seed=0), "eps=1", seed=3)
    assert torch.equal(loaded.filter_bank(), build_model(settings, 16, 2, seed=3).filter_bank())


def test_another_seeds_checkpoint_copied_over_a_runs_own_is_refused(tmp_path):
    from dpharm.io import CorruptFileError
    from dpharm.training.model import build_model, load_checkpoint, save_checkpoint
    from dpharm.training.settings import ModelSettings

    settings = ModelSettings(width=4, init_std=0.1, frozen_fraction=0.0)
    path = tmp_path / "seed1" / "model.pt"
    path.parent.mkdir()
    save_checkpoint(path, {"eps=1": build_model(settings, 16, 2, seed=0)}, seed=0)  # seed 0's, in seed 1's folder
    with pytest.raises(CorruptFileError, match=r"holds the models of seed 0, not of seed 1.*plain rerun remakes it"):
        load_checkpoint(path, build_model(settings, 16, 2, seed=1), "eps=1", seed=1)
    assert not path.exists()  # removed: the train job that made it makes it again on a plain rerun

"""Fashion-MNIST from a local folder (Debian's dataset-fashion-mnist): payload pins, damaged
files, index-based splits, and (where the package is installed) the real files end to end."""

import gzip
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dpharm.data import image_sources
from dpharm.data.image_sources import DEBIAN_FOLDERS, PAYLOAD_SHA256, load_local_copy
from dpharm.data.image_splits import materialize, real_splits
from test_image_sources import IDX_NAMES, write_idx_dataset

DEBIAN = Path(DEBIAN_FOLDERS["fashion_mnist"])
NAMES = [name for pair in IDX_NAMES.values() for name in pair]
needs_debian_copy = pytest.mark.skipif(
    not all((DEBIAN / name).is_file() for name in NAMES),
    reason=f"Debian package dataset-fashion-mnist not installed ({DEBIAN}); apt-get install dataset-fashion-mnist",
)


@pytest.fixture
def local_copy(tmp_path, monkeypatch):
    """A folder of four small IDX files and payload pins that match them."""
    folder = tmp_path / "fashion-mnist"
    raw = write_idx_dataset(folder, np.random.default_rng(3))
    pins = {name: hashlib.sha256(gzip.decompress((folder / name).read_bytes())).hexdigest() for name in NAMES}
    monkeypatch.setitem(image_sources.PAYLOAD_SHA256, "fashion_mnist", pins)
    return folder, raw


def test_a_pinned_local_copy_parses(local_copy):
    folder, raw = local_copy
    arrays = load_local_copy("fashion_mnist", folder)
    assert np.array_equal(arrays["train_y"], raw["train_y"])
    assert np.allclose(arrays["test_x"][:, 0] * 255, raw["test_x"])


def test_a_missing_file_is_named(local_copy):
    folder, _ = local_copy
    (folder / NAMES[1]).unlink()
    with pytest.raises(FileNotFoundError, match=NAMES[1]):
        load_local_copy("fashion_mnist", folder)


def _rewrite_payload(path: Path, change) -> None:
    path.write_bytes(gzip.compress(change(bytearray(gzip.decompress(path.read_bytes())))))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("flipped byte", "content sha256"),  # recompressed cleanly: only the pin can tell
        ("truncated", "corrupt gzip"),
        ("wrong header", "content sha256"),
    ],
)
def test_a_damaged_local_file_is_refused_naming_it(local_copy, damage, message):
    folder, _ = local_copy
    target = folder / NAMES[0]
    if damage == "flipped byte":
        _rewrite_payload(target, lambda b: b[:100] + bytes([b[100] ^ 0xFF]) + b[101:])
    elif damage == "truncated":
        target.write_bytes(target.read_bytes()[:-50])
    else:
        _rewrite_payload(target, lambda b: b"\x01\x00" + b[2:])
    with pytest.raises(ValueError, match=message) as error:
        load_local_copy("fashion_mnist", folder)
    assert str(target) in str(error.value)


def test_a_local_folder_needs_payload_pins(tmp_path):
    with pytest.raises(ValueError, match="payload pins"):
        load_local_copy("mnist", tmp_path)


@needs_debian_copy
def test_the_debian_files_match_the_pins():
    for name in NAMES:
        payload = gzip.decompress((DEBIAN / name).read_bytes())
        assert hashlib.sha256(payload).hexdigest() == PAYLOAD_SHA256["fashion_mnist"][name], name


@pytest.mark.slow
@needs_debian_copy
def test_the_raw_images_rule_reads_the_debian_copy_and_a_tiny_stack_learns(tmp_path):
    import yaml

    from dpharm.training.members import Member
    from dpharm.training.model import build_model, loss_and_accuracy
    from dpharm.training.opacus_training import train_members
    from dpharm.training.settings import ModelSettings, TrainingSettings
    from helpers import copy_workflow, snakemake

    workdir = copy_workflow(tmp_path / "workflow")
    (workdir / "local.yaml").write_text(
        yaml.safe_dump({"downloads": {"local_folders": {"fashion_mnist": str(DEBIAN)}}})
    )
    result = snakemake(workdir, "results/raw/fashion_mnist.npz", "--configfile", "local.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(workdir / "results" / "raw" / "fashion_mnist.npz") as parsed:
        raw = {key: parsed[key] for key in parsed.files}
    assert raw["train_x"].shape == (60000, 1, 28, 28) and raw["test_x"].shape == (10000, 1, 28, 28)
    assert np.array_equal(np.bincount(raw["train_y"]), np.full(10, 6000))

    # the C2 design: Bag (8) kept at 3%, no public hold-out; stored as indices, exactly as configured
    design = {"classes": [0, 1, 2, 3, 4, 5, 6, 7, 9, 8], "minority_fraction": 0.03, "tail_source": None,
              "tail_frequency": 0.0, "public_fraction": 0.0, "public_source": None, "shift_angle": 0.0,
              "patch_size": 14, "pixel_mean": 0.5, "pixel_std": 0.5}  # fmt: skip
    split = real_splits(raw, design, seed=0)
    assert np.array_equal(split["train_group_counts"][:, 0], [6000] * 9 + [180])
    assert np.array_equal(raw["train_y"][split["train_index"]], np.array(design["classes"])[split["train_y"]])
    assert sum(array.nbytes for array in split.values()) < 5 * 2**20  # P4: indices, not copies

    arrays = materialize(split, raw)
    x, y = torch.from_numpy(arrays["train_x"][:3000]), torch.from_numpy(arrays["train_y"][:3000])
    members = [Member(build_model(ModelSettings(8, 0.01), x.shape[-1], 10, seed), x, y, seed) for seed in (0, 0)]
    training = TrainingSettings(steps=40, learning_rate=0.01, batch_size=256, clip_norm=0.1, delta=1e-5,
                                optimizer="adam")  # fmt: skip
    records = train_members(members, [float("inf"), 3.0], training=training, device=torch.device("cpu"))
    test_x, test_y = torch.from_numpy(arrays["test_x"]), torch.from_numpy(arrays["test_y"])
    accuracies = [loss_and_accuracy(m.model, test_x, test_y)[1] for m in members]
    assert min(accuracies) > 0.5  # chance is 0.1
    assert records[1].epsilon_spent <= 3.0 + 1e-6 and records[0].epsilon_spent == float("inf")
    shutil.rmtree(workdir / "results" / "raw")


@needs_debian_copy
def test_the_calibration_tool_trains_and_reports_every_model(capsys):
    import json

    from dpharm.tools.calibrate import main

    main(["--steps", "3", "--epsilons", "inf,3", "--seeds", "0,1", "--width", "2"])
    record = json.loads(capsys.readouterr().out)
    assert [(m["seed"], m["epsilon"]) for m in record["models"]] == [
        (0, float("inf")),
        (0, 3.0),
        (1, float("inf")),
        (1, 3.0),
    ]
    assert record["models"][0]["noise_multiplier"] == 0.0 and record["models"][1]["noise_multiplier"] > 0
    assert all(0.0 <= m["test_accuracy"] <= 1.0 for m in record["models"])

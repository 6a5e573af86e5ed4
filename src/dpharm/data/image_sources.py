"""Real image data sets: offline digits, and verified downloads of MNIST, Fashion-MNIST, CIFAR-10.

Downloads are pinned by the sha256 of the original distribution files and written atomically,
so a truncated or tampered file never sits where a finished one is expected. The parsers read
the raw IDX and CIFAR-10 binary formats with numpy alone: nothing is unpickled or extracted.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from dpharm.data.downloads import download, file_sha256

SOURCES = ("mnist", "fashion_mnist", "cifar10")

_GZIP_MAGIC = b"\x1f\x8b"
# IDX type codes (http://yann.lecun.com/exdb/mnist/); every multi-byte value is big-endian.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz"
_CIFAR_DIR = "cifar-10-batches-bin"
_CIFAR_BATCHES = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}
_CIFAR_SHAPE = (3, 32, 32)
_CIFAR_RECORD = 1 + int(np.prod(_CIFAR_SHAPE))
_NUM_CLASSES = 10


@dataclass(frozen=True)
class RemoteFile:
    """One original distribution file and the sha256 of its exact bytes."""

    url: str
    sha256: str

    @property
    def name(self) -> str:
        """The last part of the URL: the file's name in the download folder and in `checksums` overrides."""
        return self.url.rsplit("/", 1)[-1]


def _idx_files(base_url: str, sha256: Mapping[str, str]) -> tuple[RemoteFile, ...]:
    return tuple(RemoteFile(base_url + name, digest) for name, digest in sha256.items())


# The sha256 values below agree across several independent public projects (torchvision's
# prototype datasets, MLDatasets.jl, TorchVision Ruby, data-set provenance records), and each is
# tied there to the MD5 that the data set's own page publishes. They were not re-hashed here
# (no network): the first real download re-checks them, and a mismatch stops it.
DOWNLOADS: dict[str, tuple[RemoteFile, ...]] = {
    "mnist": _idx_files(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        {
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    ),
    "fashion_mnist": _idx_files(
        # The authors' published mirror is an S3 website endpoint, which serves http only (torchvision
        # uses it too); the pinned sha256 sums, not the transport, vouch for the bytes.
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {
            "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
    ),
    "cifar10": (
        RemoteFile(
            f"https://www.cs.toronto.edu/~kriz/{CIFAR10_ARCHIVE}",
            "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
        ),
    ),
}


# The sha256 of the *decompressed* payload of each IDX file: the integrity check that holds for
# any compression of the same data. Debian's dataset-fashion-mnist recompressed the four files
# (so their .gz bytes differ from the upstream ones pinned above) and its payloads were hashed
# here; the upstream files decompress to the same bytes if Debian changed nothing but the
# compression, which the first download re-checks. Every local copy and every download is
# checked against these before it is parsed.
PAYLOAD_SHA256: dict[str, dict[str, str]] = {
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}
# Where Debian's packages install them (apt-get install dataset-fashion-mnist).
DEBIAN_FOLDERS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist"}


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 8x8 digits shipped with scikit-learn: images (n, 1, 8, 8) in [0, 1], labels."""
    from sklearn.datasets import load_digits  # lazy: only this loader needs scikit-learn

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)  # raw grey levels are 0..16
    return images[:, None, :, :], digits.target.astype(np.int64)


# The digits ship without a test split: a fixed 70/30 split by a fixed seed, the same for every run.
DIGITS_TRAIN_SHARE, DIGITS_SPLIT_SEED = 0.7, 0


def load_digits_splits() -> dict[str, np.ndarray]:
    """The offline digits as train and test arrays (`train_x`, `train_y`, `test_x`, `test_y`)."""
    images, labels = load_digits_images()
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(labels))
    cut = int(DIGITS_TRAIN_SHARE * len(labels))
    return {
        "train_x": images[order[:cut]],
        "train_y": labels[order[:cut]],
        "test_x": images[order[cut:]],
        "test_y": labels[order[cut:]],
    }


def parsed_images(
    source: str,
    download_folder: str | os.PathLike,
    *,
    mirror: str | None = None,
    checksums: Mapping[str, str] | None = None,
    local_folder: str | os.PathLike | None = None,
) -> dict[str, np.ndarray]:
    """Train and test arrays of an image source: the offline digits, a local copy (checked
    against the payload pins), or a verified download."""
    if source == "digits":
        return load_digits_splits()
    if local_folder is not None:
        return load_local_copy(source, local_folder)
    return fetch_dataset(source, download_folder, mirror=mirror, checksums=checksums or None)


def load_local_copy(source: str, folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """An IDX source from a local folder (such as Debian's), each file checked against its payload pin."""
    if source not in PAYLOAD_SHA256:
        raise ValueError(f"a local folder is supported for {', '.join(PAYLOAD_SHA256)} (payload pins), not {source!r}")
    folder = Path(folder)
    missing = [name for name in PAYLOAD_SHA256[source] if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{source}: {', '.join(str(folder / name) for name in missing)} not found")
    return load_idx_dataset(folder, PAYLOAD_SHA256[source])


# Bounds on what a parse may cost: the largest payload (a train-images file) is 47 MB, a CIFAR
# batch 30.7 MB.
MAX_PAYLOAD_BYTES = 256 * 2**20
MAX_CIFAR_MEMBER_BYTES = 64 * 2**20


# --- parsing -------------------------------------------------------------------------------


def _read_maybe_gzip(path: Path) -> bytes:
    """The file's bytes, decompressed if it is gzip; refused beyond MAX_PAYLOAD_BYTES either way
    (a small gzip can decompress to gigabytes)."""
    if path.stat().st_size > MAX_PAYLOAD_BYTES:
        raise ValueError(f"{path}: larger than {MAX_PAYLOAD_BYTES} bytes, not an image file of these data sets")
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            payload = stream.read(MAX_PAYLOAD_BYTES + 1)
    except (OSError, EOFError, zlib.error) as e:  # bad or truncated gzip stream
        raise ValueError(f"{path}: corrupt gzip data ({e})") from e
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"{path}: decompresses to more than {MAX_PAYLOAD_BYTES} bytes, not an image file")
    return payload


def read_idx(path: str | os.PathLike, payload_sha256: str | None = None) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into an array in native byte order; with
    `payload_sha256`, its decompressed bytes must have that digest."""
    path = Path(path)
    raw = _read_maybe_gzip(path)
    if payload_sha256 is not None and (actual := hashlib.sha256(raw).hexdigest()) != payload_sha256:
        raise ValueError(
            f"{path}: content sha256 {actual} is not the pinned {payload_sha256} (corrupt or another file)"
        )
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise ValueError(f"{path}: not an IDX file (the header must start with two zero bytes)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX data type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ValueError(f"{path}: IDX header declares {ndim} dimensions but is cut short")
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: IDX header {shape} needs {expected} data bytes, file has {len(raw) - header}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _check_labels(labels: np.ndarray, source: object) -> np.ndarray:
    if labels.size and (labels.min() < 0 or labels.max() >= _NUM_CLASSES):
        raise ValueError(f"{source}: labels outside 0..{_NUM_CLASSES - 1}")
    return labels.astype(np.int64)


def _idx_split(
    folder: Path, images_name: str, labels_name: str, pins: Mapping[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(folder / images_name, pins.get(images_name))
    labels = read_idx(folder / labels_name, pins.get(labels_name))
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{folder / images_name}: expected uint8 images of 28x28")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{folder / labels_name}: expected {len(images)} labels")
    pixels = images[:, None, :, :].astype(np.float32) / 255.0
    return pixels, _check_labels(labels, folder / labels_name)


def load_idx_dataset(
    folder: str | os.PathLike, payload_sha256: Mapping[str, str] | None = None
) -> dict[str, np.ndarray]:
    """MNIST or Fashion-MNIST from the four original IDX files in `folder`; `payload_sha256`
    maps file names to the digests their decompressed bytes must have."""
    arrays: dict[str, np.ndarray] = {}
    for split, (images_name, labels_name) in _IDX_FILES.items():
        arrays[f"{split}_x"], arrays[f"{split}_y"] = _idx_split(
            Path(folder), images_name, labels_name, payload_sha256 or {}
        )
    return arrays


def _cifar_members(tar_path: Path) -> dict[str, bytes]:
    """Read the batch files from the archive in memory, accepting only regular files."""
    wanted = {f"{_CIFAR_DIR}/{name}" for names in _CIFAR_BATCHES.values() for name in names}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(tar_path, "r:gz") as archive:
            for member in archive:
                if member.name not in wanted or not member.isreg():
                    continue  # links, folders and other files are never followed or read
                if member.name in found:
                    raise ValueError(f"{tar_path}: {member.name} appears twice")
                if member.size > MAX_CIFAR_MEMBER_BYTES:
                    raise ValueError(f"{tar_path}: {member.name} has {member.size} bytes (a batch has 30,730,000)")
                found[member.name] = archive.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ValueError(f"{tar_path}: unreadable tar.gz archive ({e})") from e
    missing = sorted(wanted - found.keys())
    if missing:
        raise ValueError(f"{tar_path}: missing regular file(s) {', '.join(missing)}")
    return found


def _cifar_records(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    if len(data) % _CIFAR_RECORD:
        raise ValueError(f"{source}: {len(data)} bytes is not a whole number of records")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    images = records[:, 1:].reshape(-1, *_CIFAR_SHAPE).astype(np.float32) / 255.0
    return images, _check_labels(records[:, 0], source)


def read_cifar10_binary(tar_path: str | os.PathLike) -> dict[str, np.ndarray]:
    """CIFAR-10 from the original binary tar.gz: images (n, 3, 32, 32) in [0, 1], labels."""
    tar_path = Path(tar_path)
    members = _cifar_members(tar_path)
    arrays: dict[str, np.ndarray] = {}
    for split, names in _CIFAR_BATCHES.items():
        parts = [_cifar_records(members[f"{_CIFAR_DIR}/{n}"], f"{tar_path}:{n}") for n in names]
        arrays[f"{split}_x"] = np.concatenate([images for images, _ in parts])
        arrays[f"{split}_y"] = np.concatenate([labels for _, labels in parts])
    return arrays


# --- fetching ------------------------------------------------------------------------------

# (folder, payload pins) -> arrays
_PARSERS: dict[str, Callable[[Path, Mapping[str, str]], dict[str, np.ndarray]]] = {
    "mnist": load_idx_dataset,
    "fashion_mnist": load_idx_dataset,
    "cifar10": lambda folder, _: read_cifar10_binary(folder / CIFAR10_ARCHIVE),
}


def _resolve(name: str, mirror: str | None, checksums: Mapping[str, str] | None) -> list[tuple[str, str, str]]:
    """(file name, url, sha256) for each file, with the mirror and checksum overrides applied."""
    if name not in DOWNLOADS:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(SOURCES)}")
    files = DOWNLOADS[name]
    overrides = dict(checksums or {})
    unknown = overrides.keys() - {f.name for f in files}
    if unknown:  # a misspelt override would otherwise silently keep the pinned value
        raise ValueError(f"checksums given for files not in {name}: {', '.join(sorted(unknown))}")
    base = mirror.rstrip("/") + "/" if mirror is not None else None
    return [(f.name, f.url if base is None else base + f.name, overrides.get(f.name, f.sha256)) for f in files]


def fetch_dataset(
    name: str,
    folder: str | os.PathLike,
    mirror: str | None = None,
    checksums: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> dict[str, np.ndarray]:
    """Download the data set's files into `folder` (reusing verified copies) and parse them.

    `mirror` replaces the base URL of every file; `checksums` maps file names to sha256 values
    that replace the pinned ones (for a mirror serving other bytes, such as a test fixture).
    """
    folder = Path(folder)
    for file_name, url, sha256 in _resolve(name, mirror, checksums):
        destination = folder / file_name
        if destination.is_file() and file_sha256(destination) == sha256.lower():
            continue
        download(url, destination, sha256, timeout=timeout)
    # A file whose download checksum is overridden serves other bytes: its payload pin cannot hold.
    pins = {file: pin for file, pin in PAYLOAD_SHA256.get(name, {}).items() if file not in (checksums or {})}
    return _PARSERS[name](folder, pins)

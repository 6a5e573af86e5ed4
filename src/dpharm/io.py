"""Atomic file output and safe loading.

Every output is written to a temporary file in the destination folder and renamed into
place, so an interrupted job never leaves a file that looks finished.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


class CorruptFileError(RuntimeError):
    """An intermediate file is missing, truncated or not in the expected format."""


TEMPORARY_SUFFIXES = (".tmp", ".part")  # atomic_path's and the downloads' unfinished files
REMADE = "removed it, so that a plain rerun remakes it"


def unusable_intermediate(path: str | os.PathLike, problem: str) -> CorruptFileError:
    """Remove an intermediate file (a dataset, a checkpoint, a training record) that cannot be
    used, and return the error naming it by its absolute path (a job runs in the configuration's
    working folder, not where the user is): the rule that made it makes it again, so a plain
    rerun recovers instead of repeating the failure."""
    target = Path(path).resolve()
    target.unlink(missing_ok=True)
    return CorruptFileError(f"{target}: {problem}; {REMADE}")


def _about_access(err: Exception) -> bool:
    """A file that cannot be opened for its permissions, is a folder, or fails in the system
    (an OSError with an errno, e.g. EIO) may be intact: that is the user's to fix, never a reason
    to delete it. A missing file (ENOENT) or a library's OSError without errno is about content."""
    return isinstance(err, OSError) and err.errno not in (None, errno.ENOENT)


@contextlib.contextmanager
def unusable_if(path: str | os.PathLike, problem: str, *errors: type[Exception]) -> Iterator[None]:
    """Turn any of `errors` raised inside the block into `unusable_intermediate(path, ...)`,
    except an access or system error, which is raised as it is and removes nothing."""
    try:
        yield
    except errors as err:
        if _about_access(err):
            raise
        raise unusable_intermediate(path, f"{problem} ({err})") from err


def file_mode() -> int:
    """The mode a plainly created file gets (0o666 less the umask), for files made by mkstemp,
    which creates them 0600: results must stay readable on a shared cluster file system."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMPORARY_SUFFIXES[0], dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, file_mode())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def remove_unfinished_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that a killed job left under `folder` (hidden, ending in
    TEMPORARY_SUFFIXES); Snakemake's lock on the working folder guarantees no running job owns
    one. Returns what was deleted."""
    stale = [
        path
        for path in Path(folder).rglob(".*")
        if path.is_file() and path.suffix in TEMPORARY_SUFFIXES and not path.name.startswith(".snakemake")
    ]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def _encode_special_floats(value: Any) -> Any:
    """JSON has no infinity: write it as the string "inf" (epsilon of a non-private run)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _encode_special_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_special_floats(v) for v in value]
    return value


def write_json(path: str | os.PathLike, data: dict) -> None:
    """Write `data` atomically as sorted, indented JSON; inf and nan become strings ('inf', 'nan'), numpy
    scalars and paths plain values."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_encode_special_floats(data), indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> dict:
    """Parse a JSON intermediate; one that is not JSON is removed (`unusable_intermediate`), one
    that cannot be opened for its permissions is kept (`unusable_if`). 'inf' strings stay strings."""
    with unusable_if(path, "cannot read JSON", OSError, ValueError):  # ValueError: not JSON, not UTF-8
        return json.loads(Path(path).read_text())


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write the arrays atomically as an uncompressed .npz."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def read_npz(path: str | os.PathLike, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Load every array of an .npz intermediate; a truncated or incomplete one is removed
    (`unusable_intermediate`)."""
    with unusable_if(path, "not a readable .npz file", OSError, ValueError, EOFError, zipfile.BadZipFile):
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    missing = [key for key in required if key not in arrays]
    if missing:
        raise unusable_intermediate(path, f"missing arrays {missing}")
    return arrays


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)

"""The committed tables a run carries over: each must be there, or a claim would silently vanish
from the verdicts, and a configuration changed since it made its tables is named."""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path

from dpharm.experiments import REGISTRY
from dpharm.setup import paths
from dpharm.setup.config import ConfigError, config_hash, load_yaml, merge


def _tracked(workdir: str | os.PathLike, pathspecs: list[str]) -> list[str]:
    """The files git tracks in the working folder that match `pathspecs`, relative to it; none
    outside a git checkout (an archive), where the files present are all there is."""
    try:
        return subprocess.run(
            ["git", "ls-files", "--", *pathspecs], cwd=workdir, capture_output=True, text=True, timeout=30, check=True
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return []


def tracked_tables(workdir: str | os.PathLike) -> list[str]:
    """The registered tables (experiments, the pooled FNR table, the audit's) that git tracks in
    the working folder, relative to it; none outside a git checkout."""
    names = [paths.fill(paths.TABLE, name=name) for name in REGISTRY]
    listed = _tracked(workdir, names)
    return [name for name in names if name in listed]


def confirmation_tests(workdir: str | os.PathLike) -> list[str]:
    """The confirmations' claim tests in the working folder, relative to it: those present and
    those git tracks (a tracked one that is missing stops the run as a missing input, instead of
    its columns silently leaving the verdict matrix)."""
    pattern = paths.fill(paths.CONFIRMATION_TESTS, name="*")
    present = [str(path.relative_to(workdir)) for path in Path(workdir).glob(pattern)]
    return sorted({*present, *_tracked(workdir, [pattern])})


def missing_tables(planned: list[str], workdir: str | os.PathLike) -> list[str]:
    """The tables a `from_tables` run needs but lacks: the plan's (its enabled experiments') and
    every one git tracks, relative to the working folder."""
    needed = dict.fromkeys([*planned, *tracked_tables(workdir)])
    return [table for table in needed if not (Path(workdir) / table).is_file()]


def check_tables_present(planned: list[str], workdir: str | os.PathLike) -> None:
    """Raise ConfigError naming every missing table and how to get it back, before any job."""
    missing = missing_tables(planned, workdir)
    if not missing:
        return
    tracked = set(tracked_tables(workdir))
    lines = [
        f"{(Path(workdir) / table).resolve()}: "
        + (
            f"restore it with `git checkout -- {table}`"
            if table in tracked
            else "rebuild it with a run without from_tables, or disable its experiment"
        )
        for table in missing
    ]
    raise ConfigError(
        "config key 'from_tables': these tables are missing, so their claims would silently drop out of the "
        "verdicts:\n  " + "\n  ".join(lines)
    )


def changed_configurations(results: str | os.PathLike, repository: str | os.PathLike, skip: str) -> list[str]:
    """A note for each provenance record in `results` (but `skip`, the one this run rewrites) whose
    configuration (config.yaml, then the overlays its name gives, from `repository`/config/) no
    longer has the hash it recorded: its tables are carried over as that configuration made them."""
    notes = []
    for path, suffix in paths.provenance_records(results):
        if Path(path).resolve() == Path(skip).resolve():
            continue
        overlays = [Path(repository) / "config" / f"{name}.yaml" for name in suffix[1:].split("+") if name]
        files = [Path(repository) / "config.yaml", *overlays]
        command = "snakemake --cores 2" + "".join(f" --configfile config/{file.name}" for file in overlays)
        try:
            recorded = json.loads(Path(path).read_text()).get("config_sha256")
            current = config_hash(functools.reduce(merge, (load_yaml(file) for file in files)))
        except (OSError, ValueError, ConfigError) as err:
            notes.append(f"{Path(path).resolve()}: cannot check its configuration ({err})")
            continue
        if current != recorded:
            notes.append(
                f"{Path(path).resolve()}: the run that made its tables had another configuration than its files give "
                f"now (a file edited since, or a --config override at that run, e.g. threads, which can change "
                f"numbers in the last bits); they are carried over as that run made them (rerun `{command}` to "
                f"remake them)"
            )
    return notes

"""The committed tables a `from_tables` run redraws from: each must be there, or a claim would
silently vanish from the verdicts."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from dpharm.experiments import REGISTRY
from dpharm.setup import paths
from dpharm.setup.config import ConfigError


def tracked_tables(workdir: str | os.PathLike) -> list[str]:
    """The registered tables (experiments, the pooled FNR table, the audit's) that git tracks in
    the working folder, relative to it; none outside a git checkout."""
    names = [paths.fill(paths.TABLE, name=name) for name in REGISTRY]
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--", *names], cwd=workdir, capture_output=True, text=True, timeout=30, check=True
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):  # not a checkout (an archive): the plan's tables alone
        return []
    return [name for name in names if name in listed]


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

"""The privacy audit's job: canary trainings give an empirical lower bound on epsilon."""

from __future__ import annotations

import pandas as pd

from dpharm.measurement.privacy_audit import run_audit
from dpharm.measurement.tables import write_csv


def privacy_audit(output: str, audit: dict, *, progress: bool) -> None:
    """One row per audited mechanism: the accountant's epsilon beside the empirical bound."""

    write_csv(output, pd.DataFrame(run_audit(audit, progress=progress)))

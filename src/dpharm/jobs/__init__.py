"""The workflow's jobs, one module per stage; `workflow/scripts/*.py` only pass Snakemake's fields in.

Each job function reads its inputs, calls the domain modules and writes its outputs; every
decision lives in the module that owns it. Heavy imports (torch, Opacus, pandas, seaborn:
seconds each) stay inside the job functions, so each job process pays only for its stage.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from pathlib import Path


@contextlib.contextmanager
def logging_to(path: str | None):
    """Send stderr (progress bars, warnings), logging and the traceback of a failure to the job's
    log file. The traceback is written while stderr still points at the log (the interpreter
    prints it only after this block has restored stderr), then the error propagates."""
    if path is None:
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as log, contextlib.redirect_stderr(log):
        logging.basicConfig(stream=log, level=logging.INFO, force=True)
        try:
            yield
        except BaseException:
            traceback.print_exc(file=log)
            raise

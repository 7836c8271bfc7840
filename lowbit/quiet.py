"""`--quiet`, in one place: our progress bars off and third-party output silenced.

Third parties that print on their own: transformers and huggingface_hub (load bars, warnings
through their loggers), dask.distributed (INFO lines from the scheduler, the nanny and every
worker, which run in other processes and read their log levels from the environment at
start), bokeh/tornado (the dashboard). `silence()` sets the environment variables those
libraries read at import or process start, and the levels of their loggers in this process.
It is called by `lowbit.cli.main` for a global `lowbit --quiet ...` and for a command's own
`--quiet`, before any of those libraries is imported by the command.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["THIRD_PARTY_LOGGERS", "silence"]

#: Loggers of libraries that log on their own; set to ERROR by `silence`.
THIRD_PARTY_LOGGERS = ("transformers", "huggingface_hub", "datasets", "sentence_transformers",
                       "distributed", "dask", "bokeh", "tornado", "urllib3", "filelock", "matplotlib")

#: Environment read by those libraries (and inherited by dask's worker processes).
_ENV = {
    "TQDM_DISABLE": "1",  # every tqdm bar, ours (kernels_ref.progress) and any library's
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "DATASETS_VERBOSITY": "error",
    "DASK_LOGGING__DISTRIBUTED": "error",  # parent of distributed.worker, .nanny, .scheduler
    "DASK_LOGGING__BOKEH": "error",
    "DASK_LOGGING__TORNADO": "error",
}


def silence() -> None:
    """Silence third-party output for the rest of this process (and processes it starts)."""
    os.environ.update(_ENV)
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    if "transformers" in sys.modules:  # already imported: the env var came too late for it
        tl = sys.modules["transformers"].utils.logging
        tl.set_verbosity_error()
        tl.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "dask" in sys.modules:  # dask reads DASK_* once, at import: set the config it holds now
        import dask

        dask.config.set({"logging.distributed": "error"})

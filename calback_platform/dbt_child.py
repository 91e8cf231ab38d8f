"""`calback-dbt`: dbt, bound to the process that starts it.

dagster-dbt runs dbt as a child of the run worker. A run worker that dies without a chance to
stop it (kill -9, a crash, the kernel's OOM killer) would leave dbt writing to the warehouse,
and holding DuckDB's single write lock, while the next run starts. So this entry point asks
Linux to kill it when its parent ends (PR_SET_PDEATHSIG, which exec keeps) and then becomes dbt.
The kernel sends the signal when the parent *thread* ends: dagster-dbt starts dbt from the
step's thread, which waits for dbt to finish.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def dbt_path() -> str:
    """The dbt installed beside this Python, so an un-activated virtualenv works too."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def end_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when `parent` (the thread that started it) ends."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent ended before the request was in place
            sys.exit("the process that started this one has ended; not running")


def main() -> None:
    end_with_parent(os.getppid())
    dbt = dbt_path()
    os.execv(dbt, [dbt, *sys.argv[1:]])

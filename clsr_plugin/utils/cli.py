"""The console scripts' error convention: one line on stderr, exit code 2 for bad input.

``clsr-infer``, ``clsr-bench``, ``clsr-train`` and ``clsr-test`` report bad input (options,
images, checkpoints, ROIs) as ``<prog>: error: <one line naming the file or key>`` and exit
with 2; an OS failure (disk full, permissions) is one line too, with exit code 1. Set
``CLSR_TRACEBACK=1`` to get the full traceback instead (for bug reports).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

#: Environment variable that turns the one-line errors back into tracebacks.
TRACEBACK_ENV = "CLSR_TRACEBACK"


def one_line(err: BaseException, limit: int = 400) -> str:
    """An exception message on one line (whitespace collapsed, truncated).

    A DataLoader worker's re-raised error carries the worker's traceback in its message; only
    its last line (the original message) is kept.
    """
    text = str(err)
    if "Original Traceback" in text:
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        text = lines[-1].split(": ", 1)[-1] if lines else text
    text = " ".join(text.split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def input_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean bad input (exit code 2)."""
    from clsr_plugin.utils.checkpoint import CheckpointError

    return (ValueError, FileNotFoundError, CheckpointError)


def run_cli(prog: str, body: Callable[[], int | None]) -> int:
    """Run ``body``; bad input and OS errors become one ``<prog>: error:`` line and 2 / 1."""
    if os.environ.get(TRACEBACK_ENV, "").strip() not in ("", "0"):
        return body() or 0
    try:
        return body() or 0
    except input_errors() as err:
        print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"{prog}: error: {type(err).__name__}: {one_line(err)}", file=sys.stderr)
        return 1

"""The console scripts' error convention: one line on stderr, exit code 2 for bad input.

``clsr-infer``, ``clsr-bench``, ``clsr-train`` and ``clsr-test`` report bad input (options,
images, checkpoints, ROIs) as ``<prog>: error: <one line naming the file or key>`` and exit
with 2; an OS failure (disk full, permissions) is one line too, with exit code 1. Set
``CLSR_TRACEBACK=1`` to get the full traceback instead (for bug reports). The
``datasets_prep`` tools use the same :func:`run_cli` (prefix ``error:``, their ``PrepError``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator

#: Environment variable that turns the one-line errors back into tracebacks.
TRACEBACK_ENV = "CLSR_TRACEBACK"


class InputError(ValueError):
    """Bad user input (reported in one line, exit code 2)."""


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


def run_cli(
    prog: str | None,
    body: Callable[[], int | None],
    *,
    bad_input: tuple[type[BaseException], ...] | None = None,
    failures: tuple[type[BaseException], ...] = (OSError,),
    message: Callable[[BaseException], str] = one_line,
) -> int:
    """Run ``body``; bad input and OS errors become one ``<prog>: error:`` line and 2 / 1.

    Args:
        prog: the line's prefix (None: just ``error:``).
        body: the command; its return value is the exit code (None: 0).
        bad_input: exception types reported with exit code 2 (default :func:`input_errors`).
        failures: exception types reported with their type name and exit code 1.
        message: the text of an exception (default :func:`one_line`).
    """
    if os.environ.get(TRACEBACK_ENV, "").strip() not in ("", "0"):
        return body() or 0
    prefix = f"{prog}: error:" if prog else "error:"
    bad = input_errors() if bad_input is None else bad_input
    try:
        return body() or 0
    except bad as err:
        print(f"{prefix} {message(err)}", file=sys.stderr)
        return 2
    except failures as err:
        print(f"{prefix} {type(err).__name__}: {message(err)}", file=sys.stderr)
        return 1


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the stack: clean-ups in ``finally`` run


@contextlib.contextmanager
def exit_on_sigterm() -> Iterator[None]:
    """While inside, SIGTERM (``kill``) raises ``SystemExit(143)`` instead of killing the
    process, so temporary files are removed; outside the main thread it does nothing."""
    previous = None
    with contextlib.suppress(ValueError):  # not the main thread: keep the default
        previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)

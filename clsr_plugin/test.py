"""``clsr-test`` / ``python -m clsr_plugin.test -opt options/test_....yml``: BasicSR testing.

A thin wrapper around :func:`basicsr.test.test_pipeline`; results land under ``./results``.
Bad input is one ``clsr-test: error:`` line and exit code 2 (:mod:`clsr_plugin.utils.cli`).
"""

from __future__ import annotations

import os
import sys

import clsr_plugin  # noqa: F401  (registers the plugin, applies the compatibility layer)
from clsr_plugin.utils.cli import run_cli


def main() -> int:
    """Run BasicSR's test pipeline rooted at the current directory."""
    from basicsr.test import test_pipeline

    return run_cli("clsr-test", lambda: test_pipeline(os.getcwd()))


if __name__ == "__main__":
    sys.exit(main())

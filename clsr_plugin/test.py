"""``clsr-test`` / ``python -m clsr_plugin.test --opt srresnet``: BasicSR testing.

BasicSR's :func:`basicsr.test.test_pipeline` behind the documented command line of
:mod:`clsr_plugin.basicsr_cli` (every BasicSR flag, options by short name, quiet console);
results land under ``./results``.
Bad input is one ``clsr-test: error:`` line and exit code 2 (:mod:`clsr_plugin.utils.cli`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import clsr_plugin  # noqa: F401  (registers the plugin, applies the compatibility layer)
from clsr_plugin import basicsr_cli


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``clsr-test``."""
    return basicsr_cli.build_parser("test")


def main(argv: Sequence[str] | None = None) -> int:
    """Run BasicSR's test pipeline rooted at the current directory."""
    return basicsr_cli.main("test", argv)


if __name__ == "__main__":
    sys.exit(main())

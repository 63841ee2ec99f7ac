"""``clsr-train`` / ``python -m clsr_plugin.train --opt srresnet``: BasicSR training.

BasicSR's :func:`basicsr.train.train_pipeline` with the plugin registered and the
compatibility layer applied, behind the documented command line of
:mod:`clsr_plugin.basicsr_cli` (every BasicSR flag, options by short name, quiet console).
Experiments land under ``./experiments`` of the current directory.
Bad options are refused before the experiment folder is made; bad input met later (a
checkpoint, an image) is one ``clsr-train: error:`` line and exit code 2
(:mod:`clsr_plugin.utils.cli`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import clsr_plugin  # noqa: F401  (registers the plugin, applies the compatibility layer)
from clsr_plugin import basicsr_cli

# clsr-train and clsr-test are the same thin module by design (BasicSR has two entry points,
# basicsr/train.py and basicsr/test.py); everything they share is in basicsr_cli


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``clsr-train``."""
    return basicsr_cli.build_parser("train")


def main(argv: Sequence[str] | None = None) -> int:
    """Run BasicSR's training pipeline rooted at the current directory."""
    return basicsr_cli.main("train", argv)


if __name__ == "__main__":
    sys.exit(main())

"""``clsr-train`` / ``python -m clsr_plugin.train -opt options/....yml``: BasicSR training.

A thin wrapper around :func:`basicsr.train.train_pipeline` with the plugin registered and the
compatibility layer applied. Experiments land under ``./experiments`` of the current directory.
Every BasicSR flag works (``--auto_resume``, ``--launcher pytorch``, ``--force_yml``, ...).
Bad options are refused before the experiment folder is made; bad input met later (a
checkpoint, an image) is one ``clsr-train: error:`` line and exit code 2
(:mod:`clsr_plugin.utils.cli`).
"""

from __future__ import annotations

import os
import sys

import clsr_plugin  # noqa: F401  (registers the plugin, applies the compatibility layer)
from clsr_plugin.utils.cli import run_cli


def main() -> int:
    """Run BasicSR's training pipeline rooted at the current directory."""
    from basicsr.train import train_pipeline

    return run_cli("clsr-train", lambda: train_pipeline(os.getcwd()))


if __name__ == "__main__":
    sys.exit(main())

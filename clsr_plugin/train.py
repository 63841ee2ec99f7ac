"""``clsr-train`` / ``python -m clsr_plugin.train -opt options/....yml``: BasicSR training.

A thin wrapper around :func:`basicsr.train.train_pipeline` with the plugin registered and the
compatibility layer applied. Experiments land under ``./experiments`` of the current directory.
Every BasicSR flag works (``--auto_resume``, ``--launcher pytorch``, ``--force_yml``, ...).
"""

from __future__ import annotations

import os

import clsr_plugin  # noqa: F401  (registers the plugin, applies the compatibility layer)


def main() -> None:
    """Run BasicSR's training pipeline rooted at the current directory."""
    from basicsr.train import train_pipeline

    train_pipeline(os.getcwd())


if __name__ == "__main__":
    main()

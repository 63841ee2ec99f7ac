"""``clsr-test`` / ``python -m clsr_plugin.test -opt options/test_....yml``: BasicSR testing.

A thin wrapper around :func:`basicsr.test.test_pipeline`; results land under ``./results``.
"""

from __future__ import annotations

import os

import clsr_plugin  # noqa: F401  (registers the plugin, applies the compatibility layer)


def main() -> None:
    """Run BasicSR's test pipeline rooted at the current directory."""
    from basicsr.test import test_pipeline

    test_pipeline(os.getcwd())


if __name__ == "__main__":
    main()

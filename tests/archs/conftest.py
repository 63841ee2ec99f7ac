"""Fixtures of the arch tests."""

import pytest
from clsr_testing import BACKBONES


@pytest.fixture(params=sorted(BACKBONES), ids=sorted(BACKBONES))
def backbone_cfg(request) -> dict:
    """Each supported backbone at a tiny width (a fresh copy per test)."""
    return dict(BACKBONES[request.param])

"""Every hostile-input test starts with a fresh BasicSR logger (see hostile_helpers)."""

import pytest
from hostile_helpers import fresh_basicsr_logger


@pytest.fixture(autouse=True)
def _fresh_logger():
    fresh_basicsr_logger()
    yield
    fresh_basicsr_logger()

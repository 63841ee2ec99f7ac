"""Fixtures for datasets_prep: small generated images (never the shared data sets)."""

import pytest
from prep_helpers import write_images


@pytest.fixture
def hr_dir(tmp_path):
    """Five HR images, some not multiples of 4, one grayscale (index 2)."""
    folder = str(tmp_path / "HR")
    write_images(folder, [(98, 130), (96, 96), (101, 77), (64, 120), (40, 30)], gray=(2,))
    return folder

"""Shared fixtures: every test runs on the CPU with tiny configurations."""

import os

import pytest
import torch

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
torch.set_num_threads(min(2, os.cpu_count() or 1))

import clsr_plugin  # noqa: E402,F401  (registers the plugin for every test)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)

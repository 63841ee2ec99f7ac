"""Inference with a trained CLSR: loading, ROI super-resolution, context windows, tiled PIM."""

from clsr_plugin.inference.api import (
    DEFAULT_CONTEXT_WINDOW,
    autocast_for,
    build_clsr,
    load_clsr,
    load_weights,
    read_network_opt,
    upscale_rois,
)
from clsr_plugin.inference.rois import context_windows, load_rois_json, parse_roi, validate_rois

__all__ = [
    "DEFAULT_CONTEXT_WINDOW",
    "autocast_for",
    "build_clsr",
    "context_windows",
    "load_clsr",
    "load_rois_json",
    "load_weights",
    "parse_roi",
    "read_network_opt",
    "upscale_rois",
    "validate_rois",
]

"""``clsr-infer``'s plan: input images + ROIs + ground truths -> one :class:`Job` per image.

Runs before any model is loaded, so bad input costs little: every image is checked complete and
its size read from its header (no decode: a folder of photos is never held in memory at once),
and its ROIs are checked against that size, once. Each image is decoded once, when its job runs
(:meth:`Job.load`). :func:`check_gt` checks the HR sizes when the model's scale is known.
:func:`~clsr_plugin.inference.api.upscale_rois` checks the ROIs once more: it is public and
checks whatever it is given (a few integer comparisons per ROI).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from clsr_plugin.inference.rois import Box, load_rois_json, parse_roi, validate_rois
from clsr_plugin.utils.cli import InputError
from clsr_plugin.utils.image_checks import check_image_complete, image_hw
from clsr_plugin.utils.image_io import LoadedImage, list_images, read_image


@dataclass
class Job:
    """One input image and its ROIs.

    Attributes:
        path: the LR image file.
        rois: ``(x, y, w, h)`` boxes in LR pixels, checked against ``size``.
        size: ``(height, width)`` of the LR image.
        gt: its HR ground truth file, or None.
        stem: the file name without extension (its folder in ``--out``).
    """

    path: str
    rois: list[Box]
    size: tuple[int, int]
    gt: str | None = None
    stem: str = ""

    def load(self) -> LoadedImage:
        """The decoded LR image, (H, W, 3) RGB, with what reading it converted.

        Raises:
            ValueError: the file no longer decodes, or changed size since it was planned.
        """
        img = read_image(self.path)
        if (img.height, img.width) != self.size:
            raise InputError(f"{os.path.basename(self.path)} changed while clsr-infer ran")
        return img


def gt_path(gt: str | None, image: str, n_images: int) -> str | None:
    """The ground truth of ``image``: ``gt`` itself (a file, one input only), its namesake in
    the folder ``gt`` (any extension), or None without ``gt``."""
    if gt is None:
        return None
    if os.path.isdir(gt):
        stem = os.path.splitext(os.path.basename(image))[0]
        for f in sorted(os.listdir(gt)):
            if os.path.splitext(f)[0] == stem:
                return os.path.join(gt, f)
        raise InputError(f"No ground truth for {os.path.basename(image)!r} in {gt!r}")
    if not os.path.isfile(gt):
        raise InputError(f"Ground truth not found: {gt!r}")
    if n_images != 1:
        raise InputError("--gt is a single file but several inputs were given; pass a folder")
    return gt


def plan_jobs(
    inputs: Sequence[str], rois: Sequence[str], rois_json: str | None, gt: str | None
) -> list[Job]:
    """Expand inputs, check each image and every ROI against its size (no model needed).

    Args:
        inputs: image files and/or folders of images.
        rois: ``"x,y,w,h"`` texts, applied to every image.
        rois_json: a ROI JSON (see :func:`~clsr_plugin.inference.rois.load_rois_json`).
        gt: HR ground truth, a file (one input) or a folder (same stems).

    Raises:
        ValueError: bad input (:class:`InputError` or the readers' ``ValueError``).
    """
    try:
        images = list_images(list(inputs))
    except ValueError as err:
        raise InputError(str(err)) from None
    cli_rois = [parse_roi(r) for r in rois]
    if not cli_rois and not rois_json:
        raise InputError("No ROI given: use --roi x,y,w,h and/or --rois-json")
    jobs, stems = [], {}
    for path in images:
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in stems:
            raise InputError(f"Two inputs share the name {stem!r}: {stems[stem]!r}, {path!r}")
        stems[stem] = path
        boxes = list(cli_rois)
        if rois_json:
            boxes += load_rois_json(rois_json, path)
        check_image_complete(path)
        try:
            size = image_hw(path)
        except ValueError:
            read_image(path)  # the reader's own reason for a file that is no image
            raise
        try:
            boxes = validate_rois(boxes, *size)
        except ValueError as err:
            raise InputError(f"{os.path.basename(path)}: {err}") from None
        jobs.append(Job(path, boxes, size, gt_path(gt, path, len(images)), stem))
    return jobs


def check_gt(job: Job, scale: int) -> None:
    """The HR ground truth must be ``scale`` x the LR (up to a mod-crop)."""
    if job.gt is None:
        return
    img, gt = job.size, image_hw(job.gt)
    hh, hw = img[0] * scale, img[1] * scale
    if not (hh <= gt[0] < hh + scale and hw <= gt[1] < hw + scale):
        raise InputError(
            f"{os.path.basename(job.gt)}: HR is {gt[0]}x{gt[1]}, expected {hh}x{hw} "
            f"({scale}x the LR {img[0]}x{img[1]})"
        )

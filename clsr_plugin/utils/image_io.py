"""Image listing, reading and writing for the package and ``datasets_prep``.

Inputs in the wild are grayscale, RGBA, palette or 16-bit; the network wants 3-channel RGB.
:func:`read_image` converts and says what it did (``LoadedImage.conversions``) so the caller
can report it; :func:`write_image` and :func:`write_png` write atomically (temp file + rename)
so an interrupted run never leaves a truncated file. :func:`image_names` and
:func:`list_images` list image files (:data:`IMAGE_SUFFIXES`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from clsr_plugin.utils.atomic import write_bytes
from clsr_plugin.utils.image_checks import check_image_complete

#: File suffixes treated as images when a directory is given.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


@dataclass
class LoadedImage:
    """A decoded image.

    Attributes:
        rgb: (H, W, 3) RGB array, ``uint8`` or ``uint16`` (the file's own integer depth; kept
            integer so huge images stay small until a crop is converted to float).
        bit_depth: 8 or 16.
        conversions: human-readable notes of what was changed to get 3-channel RGB.
        path: the source file.
    """

    rgb: np.ndarray
    bit_depth: int
    path: str
    conversions: list[str] = field(default_factory=list)

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])


def image_names(folder: str, what: str = "input", strict: bool = False) -> list[str]:
    """Sorted names of the image files in ``folder`` (not recursive).

    Hidden files (``.name``) and sub-folders are skipped, as BasicSR's ``scandir`` skips them.

    Args:
        folder: the folder.
        what: how to name the folder in errors (e.g. ``HR``).
        strict: refuse any other (non-hidden) file instead of skipping it.

    Raises:
        ValueError: the folder is missing or has no image, or (``strict``) holds a file that
            is not an image.
    """
    if not os.path.isdir(folder):
        raise ValueError(f"{what} folder not found: {folder}")
    names = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        if entry.name.lower().endswith(IMAGE_SUFFIXES):
            names.append(entry.name)
        elif strict:
            raise ValueError(
                f"not an image file: {entry.path} (expected one of {', '.join(IMAGE_SUFFIXES)})"
            )
    if not names:
        raise ValueError(f"{what} folder has no images: {folder}")
    return names


def list_images(paths: list[str]) -> list[str]:
    """Expand files and folders (:func:`image_names`, sorted) into a list of image files.

    Raises:
        ValueError: a path does not exist, or a folder holds no image.
    """
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            out.extend(os.path.join(p, name) for name in image_names(p))
        elif os.path.isfile(p):
            out.append(p)
        else:
            raise ValueError(f"Input not found: {p!r}")
    return out


def read_image(path: str) -> LoadedImage:
    """Read an image file as 3-channel RGB, converting grayscale / alpha / odd depths.

    Args:
        path: image file (anything OpenCV decodes).

    Returns:
        A :class:`LoadedImage` (uint8 or uint16 RGB) with the conversions applied.

    Raises:
        ValueError: the file does not exist, is truncated
            (:func:`~clsr_plugin.utils.image_checks.check_image_complete`), is not a decodable
            image, or has an unsupported
            layout (e.g. 2 channels, float data outside [0, 1]).
    """
    if not os.path.isfile(path):
        raise ValueError(f"Image not found: {path!r}")
    check_image_complete(path)
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ValueError(f"Not a readable image file: {path!r}")
    notes: list[str] = []
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
        notes.append("grayscale -> RGB (channel replicated)")
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
        notes.append("RGBA -> RGB (alpha channel dropped)")
    elif img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"Unsupported channel layout {img.shape} in {path!r}")
    img = np.ascontiguousarray(img[:, :, ::-1])  # BGR -> RGB
    if img.dtype == np.uint8:
        depth = 8
    elif img.dtype == np.uint16:
        depth = 16
        notes.append("16-bit -> processed as float in [0, 1], outputs written as 16-bit PNG")
    elif img.dtype in (np.float32, np.float64):
        if img.min() < 0 or img.max() > 1:
            raise ValueError(f"Float image {path!r} has values outside [0, 1]")
        img = np.round(img * 65535.0).astype(np.uint16)
        depth = 16
        notes.append("float -> 16-bit")
    else:
        raise ValueError(f"Unsupported pixel type {img.dtype} in {path!r}")
    return LoadedImage(rgb=img, bit_depth=depth, path=path, conversions=notes)


def to_float01(rgb: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float array -> float32 in [0, 1] (same shape)."""
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float32) / 255.0
    if rgb.dtype == np.uint16:
        return rgb.astype(np.float32) / 65535.0
    if np.issubdtype(rgb.dtype, np.floating):
        return rgb.astype(np.float32, copy=False)
    raise ValueError(f"Unsupported pixel type {rgb.dtype}")


def from_float01(img: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """Float array in [0, 1] -> rounded uint8 (``bit_depth`` 8) or uint16 (16), clipped."""
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    peak = 255.0 if bit_depth == 8 else 65535.0
    out = np.round(np.clip(img, 0.0, 1.0) * peak)
    return out.astype(np.uint8 if bit_depth == 8 else np.uint16)


def image_to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) RGB array (any supported dtype) -> (1, 3, H, W) float32 tensor in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(to_float01(rgb).transpose(2, 0, 1)))[None]


def tensor_to_image(t: torch.Tensor) -> np.ndarray:
    """(3, H, W) or (1, 3, H, W) tensor -> (H, W, 3) float32 RGB array clipped to [0, 1]."""
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"Expected a single image, got batch of {t.shape[0]}")
        t = t[0]
    return t.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def write_png(path: str, rgb: np.ndarray, bit_depth: int = 8) -> None:
    """Write an RGB image (float in [0, 1] or integer) as PNG, atomically.

    Args:
        path: destination ``.png``.
        rgb: (H, W, 3) RGB; float arrays are rounded to ``bit_depth``.
        bit_depth: 8 or 16 (used for float input).
    """
    if np.issubdtype(rgb.dtype, np.floating):
        rgb = from_float01(rgb, bit_depth)
    write_image(path, np.ascontiguousarray(rgb[:, :, ::-1]))


def write_image(
    path: str, bgr: np.ndarray, compress_level: int | None = None, tmp: str | None = None
) -> None:
    """Encode a BGR (or gray) array in the format of ``path``'s extension, atomically.

    Args:
        path: destination; its extension picks the format (as ``cv2.imwrite``).
        bgr: (H, W, 3) BGR or (H, W) gray, ``uint8`` or ``uint16``.
        compress_level: PNG compression 0-9 (None: OpenCV's default).
        tmp: the temporary name (:func:`~clsr_plugin.utils.atomic.atomic_path`).

    Raises:
        ValueError: OpenCV cannot encode the array in that format.
    """
    ext = os.path.splitext(path)[1]
    params = []
    if compress_level is not None and ext.lower() == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, compress_level]
    ok, buf = cv2.imencode(ext, bgr, params)
    if not ok:
        raise ValueError(f"cannot encode image as {ext}: {path}")
    write_bytes(path, buf.tobytes(), tmp)

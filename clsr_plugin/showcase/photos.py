"""The demo's data: real photographs bundled with scikit-image, as HR PNGs and a large LR image.

The training and held-out HR sets (mod-4, longest side capped) and the cost panel's large LR
image (one photo upscaled with bicubic) are written once; existing files are kept.
"""

from __future__ import annotations

import os
import os.path as osp

import numpy as np

#: scikit-image's bundled colour photographs
TRAIN_IMAGES = ("rocket", "coffee", "hubble_deep_field", "immunohistochemistry", "retina")
VAL_IMAGES = ("astronaut", "chelsea")
#: the photo upscaled into the large LR image of the cost panel, and its default size (W, H)
LARGE_IMAGE, LARGE_SIZE = "coffee", (2000, 1333)


def load_skimage(name: str) -> np.ndarray:
    """scikit-image's photo ``name`` as a contiguous RGB uint8 array (gray made RGB)."""
    import skimage.data

    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


def prepare_images(data_dir: str, max_side: int = 512) -> tuple[str, str]:
    """Write the bundled photographs as HR PNGs (mod-4, longest side <= max_side).

    Returns:
        (train_HR folder, val_HR folder).
    """
    import cv2

    from clsr_plugin.utils.image_io import write_png

    folders = {}
    for split, names in (("train_HR", TRAIN_IMAGES), ("val_HR", VAL_IMAGES)):
        folder = osp.join(data_dir, split)
        os.makedirs(folder, exist_ok=True)
        for name in names:
            path = osp.join(folder, f"{name}.png")
            if osp.isfile(path):
                continue
            img = load_skimage(name)
            scale = max_side / max(img.shape[:2])
            if scale < 1:
                size = (round(img.shape[1] * scale), round(img.shape[0] * scale))
                img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            h, w = img.shape[0] // 4 * 4, img.shape[1] // 4 * 4
            write_png(path, np.ascontiguousarray(img[:h, :w]))
        folders[split] = folder
    return folders["train_HR"], folders["val_HR"]


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` as (W, H), both >= 1.

    Raises:
        ValueError: anything else (the message names ``--large-size``).
    """
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if min(w, h) < 1:
            raise ValueError
    except ValueError:
        raise ValueError(f"--large-size: expected WxH, got {text!r}") from None
    return w, h


def prepare_large(data_dir: str, size: tuple[int, int]) -> str:
    """The cost panel's large LR image: :data:`LARGE_IMAGE` upscaled (bicubic) to ``size``."""
    import cv2

    from clsr_plugin.utils.image_io import write_png

    path = osp.join(data_dir, f"large_LR_{size[0]}x{size[1]}.png")
    if not osp.isfile(path):
        img = cv2.resize(load_skimage(LARGE_IMAGE), size, interpolation=cv2.INTER_CUBIC)
        write_png(path, img)
    return path

"""Check that an HR folder and an LR folder form scale-``s`` pairs, naming the first problem."""

from __future__ import annotations

import os.path as osp

from datasets_prep.common import PrepError, image_hw, image_names


def check_pairs(
    hr_dir: str, lr_dir: str, scale: int, lr_tmpl: str = "{}", exact: bool = True
) -> list[tuple[str, str]]:
    """Match every HR image with its LR image and check their sizes.

    Args:
        hr_dir: folder of HR images.
        lr_dir: folder of LR images.
        scale: SR scale.
        lr_tmpl: LR stem template for an HR stem (``'{}x{scale}'`` for DIV2K's full images).
        exact: require HR size == scale * LR size (sub-images, LMDB pairs); otherwise LR size
            == HR size // scale (official LR of HR that is not a multiple of the scale).

    Returns:
        ``[(hr_name, lr_name), ...]`` in HR name order.

    Raises:
        PrepError: counts differ, an LR image is missing, or a size does not match.
    """
    hr_names = image_names(hr_dir, "HR", strict=True)
    lr_names = image_names(lr_dir, "LR", strict=True)
    if len(hr_names) != len(lr_names):
        raise PrepError(
            f"HR/LR count mismatch: {len(hr_names)} images in {hr_dir}, {len(lr_names)} in {lr_dir}"
        )
    lr_by_stem = {osp.splitext(n)[0]: n for n in lr_names}
    pairs = []
    for hn in hr_names:
        want = lr_tmpl.format(osp.splitext(hn)[0], scale=scale)
        ln = lr_by_stem.get(want)
        if ln is None:
            raise PrepError(f"no LR image {want}.* in {lr_dir} for HR {osp.join(hr_dir, hn)}")
        (h, w), (lh, lw) = image_hw(osp.join(hr_dir, hn)), image_hw(osp.join(lr_dir, ln))
        ok = (h, w) == (lh * scale, lw * scale) if exact else (h // scale, w // scale) == (lh, lw)
        if not ok:
            raise PrepError(
                f"HR/LR size mismatch at x{scale}: {osp.join(hr_dir, hn)} is {h}x{w}, "
                f"{osp.join(lr_dir, ln)} is {lh}x{lw}"
            )
        pairs.append((hn, ln))
    return pairs

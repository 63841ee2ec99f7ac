"""LocalSR paired dataset: context patches with an ROI box (train), ROI grids (validation)."""

from __future__ import annotations

import os.path as osp
import random

import numpy as np
import torch
from basicsr.data.data_util import (
    paired_paths_from_folder,
    paired_paths_from_lmdb,
    paired_paths_from_meta_info_file,
    paths_from_folder,
    paths_from_lmdb,
)
from basicsr.data.transforms import augment
from basicsr.utils import FileClient, get_root_logger, imfrombytes, img2tensor
from basicsr.utils.registry import DATASET_REGISTRY
from torch.utils import data
from torchvision.transforms.functional import normalize

from clsr_plugin.data.bicubic_lr import downscale, lr_patch
from clsr_plugin.data.roi_grid import REMAINDERS, grid_extent, roi_grid
from clsr_plugin.data.roi_sampling import PLACEMENTS, as_hw, augment_box, place_roi
from clsr_plugin.utils.image_checks import (
    check_folder,
    check_folder_pairs,
    check_image_complete,
    check_lmdb_keys,
    check_min_size,
    check_pair,
    image_hw,
    lmdb_meta_shapes,
)


def validation_pair(
    img_gt: np.ndarray,
    img_lq: np.ndarray | None,
    scale: int,
    roi_hw: tuple[int, int],
    remainder: str,
) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """One test image as validation sees it (the one home of this path; clsr-bench uses it).

    Args:
        img_gt: (s*H', s*W', C) HR float image (H' = its height // s).
        img_lq: its (H, W, C) LR, or None: made with MATLAB bicubic from ``img_gt``.
        scale, roi_hw, remainder: the scale, ROI size and ``roi_remainder`` of the ROI grid.

    Returns:
        HR and LR cropped to the ROI grid's extent, and the grid (n, 4).
    """
    s = scale
    height, width = img_gt.shape[0] // s, img_gt.shape[1] // s
    if img_lq is None:
        img_lq = downscale(img_gt, s)
    eh, ew = grid_extent(height, width, roi_hw, remainder)
    rois = roi_grid(height, width, roi_hw, remainder)
    return img_gt[: eh * s, : ew * s], img_lq[:eh, :ew], rois


def dataset_geometry(opt: dict, where: str = "") -> dict:
    """The ROI / context options of a :class:`LocalSRPairedDataset`, checked.

    Shared by the dataset and :func:`clsr_plugin.option_checks.validate_options` (which runs
    before BasicSR makes the experiment folder), so both accept exactly the same options.

    Args:
        opt: the dataset options (with ``phase``, as BasicSR's ``parse_options`` sets it).
        where: prefix of error messages (e.g. ``datasets.train.``).

    Returns:
        ``roi_hw``, and ``lq_hw`` and ``placement`` (train) or ``remainder`` (val/test).

    Raises:
        ValueError: a missing or invalid option, named with ``where``.
    """
    if "roi_size" not in opt:
        raise ValueError(f"{where}roi_size is required (ROI size in LR pixels: n or [h, w]).")
    out = {"roi_hw": as_hw(opt["roi_size"], f"{where}roi_size")}
    if opt.get("phase") == "train":
        if opt.get("lq_size") is not None:
            lq_hw = as_hw(opt["lq_size"], f"{where}lq_size")
        elif opt.get("gt_size") is not None:
            gt_hw = as_hw(opt["gt_size"], f"{where}gt_size")
            lq_hw = as_hw([v // int(opt["scale"]) for v in gt_hw], f"{where}gt_size // scale")
        else:
            raise ValueError(
                f"{where}lq_size is required in training (LR context patch: n or [h, w])."
            )
        if out["roi_hw"][0] > lq_hw[0] or out["roi_hw"][1] > lq_hw[1]:
            raise ValueError(
                f"{where}roi_size {list(out['roi_hw'])} is larger than lq_size {list(lq_hw)} "
                "(the ROI must fit in the context patch)."
            )
        placement = opt.get("roi_placement", "center")
        if placement not in PLACEMENTS:
            raise ValueError(
                f"{where}roi_placement must be one of {PLACEMENTS}, got {placement!r}."
            )
        out.update(lq_hw=lq_hw, placement=placement)
    else:
        remainder = opt.get("roi_remainder", "crop")
        if remainder not in REMAINDERS:
            raise ValueError(
                f"{where}roi_remainder must be one of {REMAINDERS}, got {remainder!r}."
            )
        out["remainder"] = remainder
    return out


@DATASET_REGISTRY.register()
class LocalSRPairedDataset(data.Dataset):
    """LR/HR pairs for LocalSR, read exactly as BasicSR's ``PairedImageDataset`` reads them.

    Sources (same options and precedence as ``PairedImageDataset``): ``io_backend: lmdb`` with
    ``dataroot_gt``/``dataroot_lq`` ``.lmdb`` folders (keys from ``meta_info.txt``), else
    ``meta_info_file``, else a folder scan with ``filename_tmpl``. Without ``dataroot_lq`` the
    LR is made from the HR on the fly with BasicSR's MATLAB bicubic (HR-only mode,
    :mod:`clsr_plugin.data.bicubic_lr`).

    Train phase: a random ``lq_size`` LR context patch and its HR patch, an ROI box of
    ``roi_size`` inside it (``roi_placement``: ``center`` as in the paper, or ``random``), and
    BasicSR's flips/rotation applied to the images and the box alike.

    Val/test phase: the whole LR image, its HR cropped to ``scale`` x the LR size, and the ROI
    grid (:mod:`clsr_plugin.data.roi_grid`; ``roi_remainder`` ``crop`` or ``shift``).

    Bad data (missing folders or files, LMDB keys absent from ``data.mdb``, HR not ``scale`` x
    LR, images smaller than the context patch or one ROI) raises ``ValueError`` naming the file
    when the dataset is built (``check_data: false`` skips the per-file size checks).

    Args:
        opt: the dataset options. Besides ``PairedImageDataset``'s (``dataroot_gt``,
            ``dataroot_lq``, ``meta_info_file``, ``filename_tmpl``, ``io_backend``,
            ``use_hflip``, ``use_rot``, ``mean``, ``std``, ``scale``, ``phase``):
            ``roi_size`` (int or [h, w], LR pixels; required),
            ``lq_size`` (train: context patch, int or [h, w]; default ``gt_size // scale``),
            ``roi_placement`` (``center`` | ``random``; default ``center``),
            ``roi_remainder`` (``crop`` | ``shift``; default ``crop``),
            ``check_data`` (default true),
            ``skip_small_images`` (default false: too small images are an error; true: they are
            left out with a warning, e.g. T91's tiny images against a large context patch),
            ``samples_per_epoch`` (train; default: the number of images): the dataset's length,
            item ``i`` being image ``i mod n_images``. It fixes the epoch length whatever the
            folder holds, which exact resume needs (:mod:`clsr_plugin.models.training_state`).

    Items (train): ``lq`` (3, Hc, Wc), ``gt`` (3, s*Hc, s*Wc), ``roi`` LongTensor (4,) box
    (x, y, w, h) in ``lq`` pixels, ``lq_path``, ``gt_path``.
    Items (val): ``lq`` (3, H, W), ``gt`` (3, s*H, s*W), ``rois`` LongTensor (n, 4),
    ``lq_path``, ``gt_path``.
    """

    def __init__(self, opt: dict):
        super().__init__()
        self.opt = opt
        self.scale = int(opt["scale"])
        self.is_train = opt["phase"] == "train"
        self.io_backend_opt = dict(opt["io_backend"])
        self.backend = self.io_backend_opt["type"]
        self.file_client = None
        self.mean, self.std = opt.get("mean"), opt.get("std")
        self.gt_folder, self.lq_folder = opt["dataroot_gt"], opt.get("dataroot_lq")
        self.hr_only = self.lq_folder is None
        self.filename_tmpl = opt.get("filename_tmpl", "{}")
        if opt.get("color") == "y":
            raise ValueError("LocalSRPairedDataset works on RGB; color: y is not supported.")

        geometry = dataset_geometry(opt, f"Dataset {opt.get('name')!r}: ")
        self.roi_hw = geometry["roi_hw"]
        if self.is_train:
            self.lq_hw, self.placement = geometry["lq_hw"], geometry["placement"]
        else:
            self.remainder = geometry["remainder"]

        self.paths = self._scan()
        if not self.paths:
            raise ValueError(f"Dataset {opt.get('name')!r}: no images found in {self.gt_folder}.")
        self.skip_small = bool(opt.get("skip_small_images", False))
        if opt.get("check_data", True) or self.skip_small:
            self._check_sizes()
        self.length = len(self.paths)
        samples = opt.get("samples_per_epoch") if self.is_train else None
        if samples is not None:
            if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
                raise ValueError(
                    f"Dataset {opt.get('name')!r}: samples_per_epoch must be an integer >= 1, "
                    f"got {samples!r}."
                )
            self.length = samples

    # ------------------------------------------------------------------ start-up
    def _scan(self) -> list[dict]:
        check_folder(self.gt_folder, "dataroot_gt")
        if not self.hr_only:
            check_folder(self.lq_folder, "dataroot_lq")
        if self.backend == "lmdb":
            if self.hr_only:
                self.io_backend_opt.update(db_paths=[self.gt_folder], client_keys=["gt"])
                keys = paths_from_lmdb(self.gt_folder)
                paths = [{"lq_path": k, "gt_path": k} for k in keys]
            else:
                self.io_backend_opt.update(
                    db_paths=[self.lq_folder, self.gt_folder], client_keys=["lq", "gt"]
                )
                paths = paired_paths_from_lmdb([self.lq_folder, self.gt_folder], ["lq", "gt"])
            for folder in self.io_backend_opt["db_paths"]:
                check_lmdb_keys(folder, [p["gt_path"] for p in paths])
            return paths
        meta_file = self.opt.get("meta_info_file")
        try:
            if meta_file is not None:
                if not osp.isfile(meta_file):
                    raise ValueError(f"meta_info_file not found: {meta_file}")
                if self.hr_only:
                    with open(meta_file) as f:
                        names = [line.strip().split(" ")[0] for line in f if line.strip()]
                    gts = [osp.join(self.gt_folder, n) for n in names]
                    return [{"lq_path": p, "gt_path": p} for p in gts]
                return paired_paths_from_meta_info_file(
                    [self.lq_folder, self.gt_folder], ["lq", "gt"], meta_file, self.filename_tmpl
                )
            if self.hr_only:
                return [
                    {"lq_path": p, "gt_path": p} for p in sorted(paths_from_folder(self.gt_folder))
                ]
            check_folder_pairs(self.lq_folder, self.gt_folder, self.filename_tmpl)
            pairs = paired_paths_from_folder(
                [self.lq_folder, self.gt_folder], ["lq", "gt"], self.filename_tmpl
            )
            return sorted(pairs, key=lambda p: p["gt_path"])  # basicsr keeps os.scandir order
        except AssertionError as err:  # basicsr's pairing reports missing partners by assert
            raise ValueError(
                f"Cannot pair dataroot_lq={self.lq_folder} with dataroot_gt={self.gt_folder} "
                f"(filename_tmpl={self.filename_tmpl!r}): {err}"
            ) from None

    def _check_sizes(self) -> None:
        if self.backend == "lmdb":
            gt_shapes = lmdb_meta_shapes(self.gt_folder)
            lq_shapes = gt_shapes if self.hr_only else lmdb_meta_shapes(self.lq_folder)

            def sizes(p):
                return lq_shapes[p["lq_path"]], gt_shapes[p["gt_path"]]

            def names(p):
                gt_name = f"{self.gt_folder}[{p['gt_path']}]"
                return (gt_name if self.hr_only else f"{self.lq_folder}[{p['lq_path']}]"), gt_name
        else:

            def sizes(p):
                check_image_complete(p["gt_path"])
                gt_hw = image_hw(p["gt_path"])
                if self.hr_only:
                    return gt_hw, gt_hw
                check_image_complete(p["lq_path"])
                return image_hw(p["lq_path"]), gt_hw

            def names(p):
                return p["lq_path"], p["gt_path"]

        if self.is_train:
            min_hw, what = self.lq_hw, "the context patch lq_size"
        elif self.remainder == "crop":
            min_hw, what = self.roi_hw, "one ROI (roi_size)"
        else:
            min_hw, what = (1, 1), "one pixel"
        kept, dropped = [], []
        for p in self.paths:
            lq_hw, gt_hw = sizes(p)
            lq_name, gt_name = names(p)
            if self.hr_only:
                lq_hw = (gt_hw[0] // self.scale, gt_hw[1] // self.scale)
            else:
                check_pair(lq_hw, gt_hw, self.scale, lq_name, gt_name)
            if self.skip_small and (lq_hw[0] < min_hw[0] or lq_hw[1] < min_hw[1]):
                dropped.append(gt_name)
                continue
            check_min_size(lq_hw, min_hw, lq_name, what)
            kept.append(p)
        if dropped:
            get_root_logger().warning(
                f"Dataset {self.opt.get('name')!r}: skipped {len(dropped)} image(s) smaller than "
                f"{what} {min_hw} in LR pixels (skip_small_images), e.g. {dropped[:3]}."
            )
        if not kept:
            raise ValueError(
                f"Dataset {self.opt.get('name')!r}: every image is smaller than {what}."
            )
        self.paths = kept

    # ------------------------------------------------------------------ items
    def _read(self, path: str, client_key: str) -> np.ndarray:
        if self.file_client is None:
            opt = dict(self.io_backend_opt)
            self.file_client = FileClient(opt.pop("type"), **opt)
        img_bytes = self.file_client.get(path, client_key)
        name = path
        if self.backend == "lmdb":
            name = f"{self.lq_folder if client_key == 'lq' else self.gt_folder}[{path}]"
        if img_bytes is None:
            raise ValueError(f"{client_key} image {name} could not be read.")
        check_image_complete(img_bytes, name)
        img = imfrombytes(img_bytes)
        if img is None:
            raise ValueError(f"{client_key} image {name} cannot be decoded (corrupt image).")
        return img.astype(np.float32) / 255.0

    def _load_pair(self, index: int) -> tuple[np.ndarray, np.ndarray | None, str, str]:
        """HR (cropped to scale x LR) and LR images (None in HR-only mode), HWC BGR float32."""
        s = self.scale
        lq_path, gt_path = self.paths[index]["lq_path"], self.paths[index]["gt_path"]
        img_gt = self._read(gt_path, "gt")
        if self.hr_only:
            img_lq = None
            h, w = img_gt.shape[0] // s, img_gt.shape[1] // s
        else:
            img_lq = self._read(lq_path, "lq")
            h, w = img_lq.shape[:2]
        return img_gt[: h * s, : w * s], img_lq, lq_path, gt_path

    def _to_tensors(
        self, img_gt: np.ndarray, img_lq: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor]:
        img_gt, img_lq = img2tensor([img_gt, img_lq], bgr2rgb=True, float32=True)
        if self.mean is not None or self.std is not None:
            normalize(img_lq, self.mean, self.std, inplace=True)
            normalize(img_gt, self.mean, self.std, inplace=True)
        return img_gt, img_lq

    def __getitem__(self, index: int) -> dict:
        s = self.scale
        img_gt, img_lq, lq_path, gt_path = self._load_pair(index % len(self.paths))
        height, width = img_gt.shape[0] // s, img_gt.shape[1] // s

        if self.is_train:
            ch, cw = self.lq_hw
            top, left = random.randint(0, height - ch), random.randint(0, width - cw)
            gt_patch = img_gt[top * s : (top + ch) * s, left * s : (left + cw) * s]
            if img_lq is None:
                lq_patch = lr_patch(img_gt, top, left, (ch, cw), s)
            else:
                lq_patch = img_lq[top : top + ch, left : left + cw]
            box = place_roi((ch, cw), self.roi_hw, self.placement)
            (gt_patch, lq_patch), status = augment(
                [np.ascontiguousarray(gt_patch), np.ascontiguousarray(lq_patch)],
                self.opt.get("use_hflip", False),
                self.opt.get("use_rot", False),
                return_status=True,
            )
            box = augment_box(box, (ch, cw), *status)
            gt_t, lq_t = self._to_tensors(gt_patch, lq_patch)
            return {
                "lq": lq_t,
                "gt": gt_t,
                "roi": torch.tensor(box, dtype=torch.long),
                "lq_path": lq_path,
                "gt_path": gt_path,
            }

        gt, lq, rois = validation_pair(img_gt, img_lq, s, self.roi_hw, self.remainder)
        gt_t, lq_t = self._to_tensors(gt, lq)
        return {"lq": lq_t, "gt": gt_t, "rois": rois, "lq_path": lq_path, "gt_path": gt_path}

    def __len__(self) -> int:
        return self.length

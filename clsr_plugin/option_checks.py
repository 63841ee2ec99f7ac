"""Checks of training / test options, run right after BasicSR parses them (by
:mod:`clsr_plugin.compat`), before BasicSR makes the experiment folder: the network builds,
datasets fit their geometry, the weight files named under ``path`` load. Every problem is one
:class:`~clsr_plugin.utils.options.OptionsError` line.
"""

from __future__ import annotations

import os
from typing import Any

from clsr_plugin.utils.options import OptionsError


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise OptionsError(message)


def _positive_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return (isinstance(value, int) or (isinstance(value, float) and value.is_integer())) and (
        value > 0
    )


def _check_network(opt: dict) -> None:
    from clsr_plugin.archs.clsr_arch import check_network_opt

    try:
        check_network_opt(opt.get("network_g"), "network_g")
    except ValueError as err:
        raise OptionsError(str(err)) from None


#: ``path:`` keys whose files are read (and dropped) by :func:`validate_options`, so a bad file
#: is refused before BasicSR makes its folders; the model reads them again (a second load).
READ_AHEAD_KEYS = (
    "pretrain_network_g",
    "pretrain_network_backbone_g",
    "pretrain_network_adapter_g",
)


def _check_weight_files(path_opt: dict, unsafe: bool) -> None:
    """The weight files under ``path:`` load: ``load_checkpoint`` (safe unpickling, finite
    values) for checkpoints, every check of
    :func:`~clsr_plugin.inference.adapter_file.read_adapter` for the adapter."""
    from clsr_plugin.inference.adapter_file import read_adapter
    from clsr_plugin.utils.checkpoint import CheckpointError, load_checkpoint

    for key in READ_AHEAD_KEYS:
        value = path_opt.get(key)
        if value is None:
            continue
        path = os.path.expanduser(value)
        try:
            if key == "pretrain_network_adapter_g":
                read_adapter(path)
            else:
                load_checkpoint(path, allow_unsafe_pickle=unsafe)
        except (ValueError, CheckpointError) as err:
            raise OptionsError(f"path.{key}: {err}") from None


def _check_dataset(key: str, ds: dict) -> None:
    from clsr_plugin.data.localsr_paired_dataset import dataset_geometry

    where = f"datasets.{key}."
    _require(isinstance(ds, dict), f"datasets.{key} must be a mapping, got {ds!r}")
    backend = (ds.get("io_backend") or {}).get("type", "disk")
    plugin = ds.get("type") == "LocalSRPairedDataset"
    if plugin:
        _require(
            isinstance(ds.get("dataroot_gt"), str) and ds["dataroot_gt"],
            f"{where}dataroot_gt is required (a folder of HR images, or an LMDB)",
        )
        try:
            dataset_geometry(ds, where)
        except ValueError as err:
            raise OptionsError(str(err)) from None
    for root_key in ("dataroot_gt", "dataroot_lq"):
        root = ds.get(root_key)
        if root is None:
            continue
        _require(isinstance(root, str), f"{where}{root_key} must be a folder path, got {root!r}")
        _require(os.path.isdir(root), f"{where}{root_key}: folder not found: {root}")
        if backend == "lmdb":
            _require(
                root.endswith(".lmdb")
                and os.path.isfile(os.path.join(root, "data.mdb"))
                and os.path.isfile(os.path.join(root, "meta_info.txt")),
                f"{where}{root_key}: {root} is not an LMDB (io_backend: lmdb needs a *.lmdb "
                "folder with data.mdb and meta_info.txt, e.g. from datasets_prep.create_lmdb)",
            )


#: ``path:`` keys that name a checkpoint file to read (checked to exist up front).
CHECKPOINT_KEYS = (
    "pretrain_network_g",
    "pretrain_network_backbone_g",
    "pretrain_network_adapter_g",
    "resume_state",
)


def validate_options(opt: dict) -> None:
    """Check what the plugin reads from BasicSR options, before any folder is created.

    Run by :mod:`clsr_plugin.compat` right after BasicSR's ``parse_options`` (train and test,
    ``clsr-train``, ``clsr-test`` and ``basicsr/train.py`` alike). Checks ``network_g``
    (:func:`~clsr_plugin.archs.clsr_arch.check_network_opt`: a registered type, only its
    constructor's keys; for ``CLSR`` a supported backbone, an integer ``roi_pad``),
    ``path.allow_unsafe_pickle`` (a boolean), the checkpoint files named under ``path:``
    (they exist; :data:`READ_AHEAD_KEYS` are read and checked), ``train.total_iter``
    (a positive integer), every dataset's ``dataroot_*`` (existing folders; LMDBs for
    ``io_backend: lmdb``) and the ROI options of ``LocalSRPairedDataset`` (``roi_size``,
    ``lq_size``, ...).

    Raises:
        OptionsError: one line naming the key and what is allowed.
    """
    from clsr_plugin.utils.checkpoint import unsafe_pickle_opt

    _require(isinstance(opt, dict), f"options must be a mapping, got {type(opt).__name__}")
    path_opt = opt.get("path") or {}
    try:
        unsafe = unsafe_pickle_opt(path_opt)
    except ValueError as err:
        raise OptionsError(str(err)) from None
    for key in CHECKPOINT_KEYS:
        value = path_opt.get(key)
        if value is not None:
            _require(
                isinstance(value, str) and os.path.isfile(os.path.expanduser(value)),
                f"path.{key}: checkpoint file not found: {value!r}",
            )
    _check_network(opt)
    _check_weight_files(path_opt, unsafe)
    if opt.get("is_train"):
        train = opt.get("train")
        _require(isinstance(train, dict), "train is missing (training needs a `train:` section)")
        total = train.get("total_iter")
        _require(
            _positive_int(total),
            f"train.total_iter must be a positive integer, got {total!r}",
        )
    datasets = opt.get("datasets")
    _require(
        isinstance(datasets, dict) and datasets,
        "datasets is missing (expected `datasets: {train: {...}, val: {...}}`)",
    )
    for key, ds in datasets.items():
        _check_dataset(key, ds)

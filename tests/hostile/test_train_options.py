"""Issue 11: bad training options are one line naming the key, before any folder is made.

Each case breaks one key of a valid tiny CLSR job and runs ``clsr-train`` in-process; the
validator (:func:`clsr_plugin.option_checks.validate_options`) runs right after BasicSR's
``parse_options``, so no ``experiments/`` folder may appear.
"""

from __future__ import annotations

import copy

import pytest
import yaml
from hostile_helpers import cli, error_line, localsr_train_options

from clsr_plugin import train as clsr_train


def _drop_roi(opt):
    del opt["datasets"]["train"]["roi_size"]


def _roi_abc(opt):
    opt["datasets"]["train"]["roi_size"] = "abc"


def _roi_too_big(opt):
    opt["datasets"]["train"]["roi_size"] = 32


def _drop_dataroot(opt):
    del opt["datasets"]["train"]["dataroot_gt"]


def _not_lmdb(opt):
    opt["datasets"]["train"]["io_backend"] = {"type": "lmdb"}


def _unknown_backbone(opt):
    opt["network_g"]["backbone"]["type"] = "NoSuchNet"


def _no_network(opt):
    del opt["network_g"]


def _negative_lq(opt):
    opt["datasets"]["train"]["lq_size"] = -16


def _total_iter_ten(opt):
    opt["train"]["total_iter"] = "ten"


def _missing_folder(opt):
    opt["datasets"]["train"]["dataroot_lq"] += "_missing"


def _missing_checkpoint(opt):
    opt["path"]["pretrain_network_g"] = "no/such/net_g.pth"


CASES = {
    "missing checkpoint": (_missing_checkpoint, ["path.pretrain_network_g", "no/such/net_g.pth"]),
    "missing roi_size": (_drop_roi, ["datasets.train.roi_size", "required"]),
    "roi_size abc": (_roi_abc, ["datasets.train.roi_size", "'abc'", "positive int"]),
    "roi_size > lq_size": (_roi_too_big, ["datasets.train.roi_size", "larger than lq_size"]),
    "missing dataroot": (_drop_dataroot, ["datasets.train.dataroot_gt", "required"]),
    "folder is not an LMDB": (_not_lmdb, ["datasets.train.dataroot_gt", "not an LMDB"]),
    "unknown backbone": (_unknown_backbone, ["network_g.backbone.type", "NoSuchNet", "EDSR"]),
    "no network_g": (_no_network, ["network_g is missing"]),
    "negative lq_size": (_negative_lq, ["datasets.train.lq_size", "-16", "positive int"]),
    "total_iter ten": (_total_iter_ten, ["train.total_iter", "'ten'", "positive integer"]),
    "missing folder": (_missing_folder, ["datasets.train.dataroot_lq", "folder not found"]),
}


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    root = tmp_path_factory.mktemp("valid")
    return localsr_train_options(root)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_training_option_is_one_line_before_the_experiment_folder(
    valid, tmp_path, monkeypatch, capsys, case
):
    breaks, needles = CASES[case]
    opt = copy.deepcopy(valid)
    breaks(opt)
    (tmp_path / "opt.yml").write_text(yaml.safe_dump(opt, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    assert cli(clsr_train.main, ["-opt", "opt.yml"], monkeypatch) == 2
    error_line(capsys.readouterr().err, "clsr-train: error:", *needles)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["opt.yml"]


def test_the_valid_job_passes_the_validator(valid):
    from clsr_plugin.option_checks import validate_options

    opt = copy.deepcopy(valid)
    opt["is_train"] = True
    opt["datasets"]["train"]["phase"] = "train"
    validate_options(opt)

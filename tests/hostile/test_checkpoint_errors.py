"""Issue 11: a bad checkpoint is one line naming the file (never a traceback, never code).

Zero-byte and renamed files through ``clsr-infer``; a wrong-shape safetensors and malicious
pickles as ``pretrain_network_g``, ``pretrain_network_backbone_g`` and a resume ``.state``
through ``clsr-train`` (in-process).
"""

from __future__ import annotations

import pytest
import torch
import yaml
from _clsr_tiny import TINY_OPT, tiny_clsr
from hostile_helpers import (
    WritesMarker,
    cli,
    error_line,
    evil_checkpoint,
    localsr_train_options,
    write_jpeg,
)
from safetensors.torch import save_file

from clsr_plugin import infer
from clsr_plugin import train as clsr_train
from clsr_plugin.inference.api import build_clsr
from clsr_plugin.utils.checkpoint import CheckpointError, load_checkpoint


def _infer(tmp_path, weights, *extra):
    opt = tmp_path / "opt.yml"
    opt.write_text(yaml.safe_dump({"scale": 4, "network_g": TINY_OPT}))
    image = write_jpeg(tmp_path / "photo.jpg")
    argv = [str(image), "--roi", "0,0,8,8", "--opt", str(opt), "--weights", str(weights),
            "--out", str(tmp_path / "out"), "--device", "cpu", *extra]  # fmt: skip
    return cli(infer.main, argv)


def test_zero_byte_checkpoint(tmp_path, capsys):
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.pth is empty"):
        load_checkpoint(empty)
    assert _infer(tmp_path, empty) == 2
    error_line(capsys.readouterr().err, "clsr-infer: error:", str(empty), "empty")
    assert not (tmp_path / "out").exists()


def test_pickle_renamed_safetensors_is_never_unpickled(tmp_path, capsys):
    marker = tmp_path / "marker"
    fake = evil_checkpoint(tmp_path / "weights.safetensors", marker, tiny_clsr().state_dict())
    assert _infer(tmp_path, fake, "--allow-unsafe-pickle") == 2
    error_line(capsys.readouterr().err, str(fake), "safetensors")
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_infer_refusal_names_the_flag_and_the_blocked_global(tmp_path, capsys):
    marker = tmp_path / "marker"
    evil = evil_checkpoint(tmp_path / "evil.pth", marker, tiny_clsr().state_dict())
    assert _infer(tmp_path, evil) == 2
    line = error_line(capsys.readouterr().err, str(evil), "--allow-unsafe-pickle", "open")
    assert "allow_unsafe_pickle: true" not in line  # the CLI's flag, not the YAML key
    assert not marker.exists() and not (tmp_path / "out").exists()


def _train(tmp_path, monkeypatch, **path_opt):
    opt = localsr_train_options(tmp_path)
    opt["path"].update(path_opt)
    (tmp_path / "opt.yml").write_text(yaml.safe_dump(opt, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    return cli(clsr_train.main, ["-opt", "opt.yml"], monkeypatch)


def test_wrong_shape_safetensors_in_training(tmp_path, monkeypatch, capsys):
    other = dict(TINY_OPT, backbone={"type": "MSRResNet", "num_feat": 16, "num_block": 1,
                                     "upscale": 4})  # fmt: skip
    weights = tmp_path / "other.safetensors"
    save_file(dict(build_clsr(other).state_dict()), str(weights))
    assert _train(tmp_path, monkeypatch, pretrain_network_g=str(weights)) == 2
    error_line(capsys.readouterr().err, "clsr-train: error:", str(weights), "does not fit")
    assert not list((tmp_path / "experiments").rglob("*.pth"))  # nothing trained or saved


@pytest.mark.parametrize("key", ["pretrain_network_g", "pretrain_network_backbone_g"])
def test_malicious_pretrained_weights_in_training(tmp_path, monkeypatch, capsys, key):
    marker = tmp_path / "marker"
    evil = evil_checkpoint(tmp_path / "evil.pth", marker)
    assert _train(tmp_path, monkeypatch, **{key: str(evil)}) == 2
    error_line(capsys.readouterr().err, "clsr-train: error:", str(evil), "allow_unsafe_pickle")
    assert not marker.exists()
    assert not list((tmp_path / "experiments").rglob("*.pth"))


def test_malicious_resume_state_refused_before_the_experiment(tmp_path, monkeypatch, capsys):
    marker = tmp_path / "marker"
    evil = tmp_path / "1.state"
    torch.save({"iter": 1, "epoch": 0, "payload": WritesMarker(marker)}, evil)
    assert _train(tmp_path, monkeypatch, resume_state=str(evil)) == 2
    error_line(capsys.readouterr().err, "clsr-train: error:", str(evil), "open")
    assert not marker.exists() and not (tmp_path / "experiments").exists()

"""Issue 11, smaller things: file modes, stale temporary files, a full disk, the logged key."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from basicsr.archs.srresnet_arch import MSRResNet
from basicsr.models.base_model import BaseModel
from hostile_helpers import cli, error_line, localsr_train_options

from clsr_plugin import train as clsr_train
from clsr_plugin.compat import atomic_torch_save
from clsr_plugin.utils.atomic import umask_mode, write_text
from clsr_plugin.utils.image_io import write_png


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_outputs_get_the_umask_mode_not_0600(tmp_path):
    old = os.umask(0o027)
    try:
        write_png(str(tmp_path / "a.png"), np.zeros((4, 4, 3), np.uint8))
        atomic_torch_save({"x": torch.zeros(1)}, str(tmp_path / "b.pth"))
        write_text(tmp_path / "c.json", "{}")
        for name in ("a.png", "b.pth", "c.json"):
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name
        assert umask_mode() == 0o640
    finally:
        os.umask(old)


def test_a_killed_saves_temporary_file_is_removed_by_the_next_save(tmp_path):
    stale = tmp_path / f"net_g_1000.pth.tmp{_dead_pid()}"
    stale.write_bytes(b"half a checkpoint")
    running = tmp_path / f"net_g_1000.pth.tmp{os.getpid()}x"  # not ours: kept
    running.write_bytes(b"")
    live = tmp_path / f"other.pth.tmp{os.getppid()}"  # a live process's: kept
    live.write_bytes(b"")
    atomic_torch_save({"x": torch.zeros(1)}, str(tmp_path / "net_g_2000.pth"))
    assert not stale.exists() and running.exists() and live.exists()
    assert torch.load(tmp_path / "net_g_2000.pth", weights_only=True)["x"].shape == (1,)


FULL_DISK = {  # what torch.save raises on a full disk: its own error, or the OS's
    "torch": (RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed"),
              "file write failed"),
    "os": (OSError(errno.ENOSPC, "No space left on device"), "[Errno 28]"),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(FULL_DISK))
def test_disk_full_while_saving_a_training_state(tmp_path, monkeypatch, capsys, kind):
    real_save = torch.save
    error, needle = FULL_DISK[kind]

    def full_disk(obj, f, *args, **kwargs):
        if ".state.tmp" in str(f):
            with open(f, "wb") as handle:
                handle.write(b"partial")
            raise error
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk)
    opt = localsr_train_options(tmp_path)
    opt["logger"]["save_checkpoint_freq"] = 1
    (tmp_path / "opt.yml").write_text(yaml.safe_dump(opt, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    assert cli(clsr_train.main, ["-opt", "opt.yml"], monkeypatch) == 1
    states = tmp_path / "experiments" / "hostile" / "training_states"
    error_line(capsys.readouterr().err, "clsr-train: error:", str(states / "1.state"), needle)
    assert list(states.iterdir()) == []  # no truncated state, no temporary file


def test_load_network_logs_the_key_it_loaded(tmp_path, caplog):
    net = MSRResNet(num_feat=4, num_block=1, upscale=2)
    path = tmp_path / "ema_only.pth"
    torch.save({"params_ema": net.state_dict()}, path)
    model = BaseModel({"num_gpu": 0, "is_train": False, "dist": False, "path": {}})
    logger = logging.getLogger("basicsr")
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="basicsr"):
            model.load_network(MSRResNet(num_feat=4, num_block=1, upscale=2), str(path),
                               param_key="params")  # fmt: skip
    finally:
        logger.removeHandler(caplog.handler)
    text = caplog.text
    assert "key [params_ema]" in text and "key [params]" not in text
    assert "params does not exist, use params_ema" in text

"""``python -m clsr_plugin.train`` / ``clsr_plugin.test``: BasicSR's pipelines on CPU.

A tiny BasicSR MSRResNet + SRModel job on generated PNGs, run in a temporary working directory:
killed after its first checkpoint and resumed with ``--auto_resume``; tested with
``clsr_plugin.test``; and trained by two gloo processes under ``torchrun``.
"""

import re
import signal
import subprocess
import time
from pathlib import Path

import basicsr
import pytest
import torch
import yaml
from tiny_job import child_env, python, run, write_job

NAME = "tiny_msrresnet"


def _iters(folder: Path) -> list[int]:
    return sorted(int(p.name[: -len(".state")]) for p in folder.glob("*.state"))


def _adam_steps(state_file: Path) -> set[int]:
    state = torch.load(state_file, map_location="cpu", weights_only=True)
    return {int(s["step"]) for s in state["optimizers"][0]["state"].values()}


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """Train until the first checkpoint, SIGKILL, then ``--auto_resume`` for two more iters."""
    root = tmp_path_factory.mktemp("resume")
    yml = write_job(root, name=NAME, total_iter=10**6)
    states = root / "experiments" / NAME / "training_states"
    with open(root / "killed.log", "w") as log:
        proc = subprocess.Popen(
            [python(), "-m", "clsr_plugin.train", "-opt", yml.name],
            cwd=root,
            env=child_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while not (states / "1.state").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, (root / "killed.log").read_text()[-3000:]
    killed_at = _iters(states)[-1]
    resume = ["--auto_resume", "--force_yml", f"train:total_iter={killed_at + 2}"]
    out = run([python(), "-m", "clsr_plugin.train", "-opt", yml.name, *resume], cwd=root)
    assert out.returncode == 0, out.stdout[-3000:]
    return root, killed_at, out.stdout


def test_auto_resume_after_a_kill_continues_where_it_stopped(resumed):
    root, killed_at, log = resumed
    exp = root / "experiments" / NAME
    # the epoch depends on how far the run got before the kill (a few images per epoch)
    assert re.search(rf"Resuming training from epoch: \d+, iter: {killed_at}\.", log), log[-2000:]
    assert f"net_g_{killed_at}.pth, key [params]." in log  # weights of the resumed iteration
    assert f"net_g_{killed_at}.pth, key [params_ema]." in log
    assert _iters(exp / "training_states")[-1] == killed_at + 2
    # the optimizer state was restored: Adam's step counts continue from the resumed state
    assert _adam_steps(exp / "training_states" / f"{killed_at}.state") == {killed_at}
    assert _adam_steps(exp / "training_states" / f"{killed_at + 2}.state") == {killed_at + 2}
    last = torch.load(exp / "training_states" / f"{killed_at + 2}.state", weights_only=True)
    assert last["iter"] == killed_at + 2 and last["schedulers"][0]["last_epoch"] == killed_at + 1
    latest = torch.load(exp / "models" / "net_g_latest.pth", weights_only=True)
    final = torch.load(exp / "models" / f"net_g_{killed_at + 2}.pth", weights_only=True)
    assert set(latest) == {"params", "params_ema"}
    assert all(torch.equal(latest["params"][k], v) for k, v in final["params"].items())


def test_console_is_quiet_and_the_log_has_banner_options_network_once(resumed):
    root, _, log = resumed
    (latest,) = sorted((root / "experiments" / NAME).glob(f"train_{NAME}_*.log"))[-1:]
    text = latest.read_text()
    for marker in ("Version Information", "model_type: SRModel", "MSRResNet(\n"):
        assert marker not in log, marker
        assert text.count(marker) == 1, marker
    assert "Network: MSRResNet, with parameters:" in log and "iter:" in log  # progress stays


def test_experiments_land_in_the_working_directory(resumed):
    root, _, _ = resumed
    assert (root / "experiments" / NAME / f"{NAME}.yml").is_file()
    assert len(list((root / "experiments" / NAME).glob(f"train_{NAME}_*.log"))) == 2
    assert not (Path(basicsr.__file__).parent.parent / "experiments").exists()


def test_test_pipeline_on_the_trained_weights(resumed):
    root, _, _ = resumed
    data = root / "data"
    opt = {
        "name": "tiny_test",
        "model_type": "SRModel",
        "scale": 2,
        "num_gpu": 0,
        "manual_seed": 0,
        "datasets": {
            "test_1": {
                "name": "tiny",
                "type": "PairedImageDataset",
                "dataroot_gt": str(data / "gt"),
                "dataroot_lq": str(data / "lq"),
                "io_backend": {"type": "disk"},
            }
        },
        "network_g": yaml.safe_load((root / f"{NAME}.yml").read_text())["network_g"],
        "path": {
            "pretrain_network_g": str(root / "experiments" / NAME / "models" / "net_g_latest.pth"),
            "param_key_g": "params_ema",
            "strict_load_g": True,
        },
        "val": {
            "save_img": True,
            "suffix": None,
            "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 2}},
        },
    }
    yml = root / "tiny_test.yml"
    yml.write_text(yaml.safe_dump(opt, sort_keys=False))
    out = run([python(), "-m", "clsr_plugin.test", "-opt", yml.name], cwd=root)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "net_g_latest.pth, key [params_ema]." in out.stdout
    psnr = re.search(r"# psnr: ([0-9.]+)", out.stdout)
    assert psnr and 0 < float(psnr.group(1)) < 100
    pngs = list((root / "results" / "tiny_test" / "visualization" / "tiny").glob("*.png"))
    assert len(pngs) == 4


def test_two_process_gloo_ddp(tmp_path):
    yml = write_job(tmp_path, name="tiny_ddp", total_iter=3, save_checkpoint_freq=3)
    cmd = [python(), "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += ["-m", "clsr_plugin.train", "-opt", yml.name, "--launcher", "pytorch"]
    out = run(cmd, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:]
    assert "World size (gpu number): 2" in out.stdout
    assert "Network: DistributedDataParallel - MSRResNet" in out.stdout
    exp = tmp_path / "experiments" / "tiny_ddp"
    assert _iters(exp / "training_states") == [3]  # written once, by rank 0
    assert sorted(p.name for p in (exp / "models").iterdir()) == ["net_g_3.pth", "net_g_latest.pth"]
    assert _adam_steps(exp / "training_states" / "3.state") == {3}
    assert out.stdout.count("Saving models and training states.") == 1

"""Issue 11, items 3 and 4 and clsr-infer's smaller things: never lose or corrupt output.

Existing results are refused without ``--overwrite``; a publish that fails half-way leaves
``--out`` exactly as it was; outputs get the umask's mode; a killed run's hidden temporary
folder is removed by the next run; ``--context-window inf`` is a one-line usage error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from _clsr_tiny import tiny_clsr, write_checkpoint
from hostile_helpers import cli, error_line, snapshot, write_jpeg

from clsr_plugin import infer
from clsr_plugin.utils.atomic import umask_mode


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("model")
    return write_checkpoint(tiny_clsr(), str(root))


def _argv(tmp_path, model_files, out, *extra, images=("a",)):
    weights, opt = model_files
    paths = [str(write_jpeg(tmp_path / f"{n}.jpg", seed=i)) for i, n in enumerate(images)]
    return [*paths, "--roi", "0,0,8,8", "--roi", "10,10,12,8", "--opt", opt, "--weights",
            weights, "--out", str(out), "--device", "cpu", *extra]  # fmt: skip


def test_existing_results_are_not_replaced_without_overwrite(tmp_path, model_files, capsys):
    out = tmp_path / "out"
    assert cli(infer.main, _argv(tmp_path, model_files, out)) == 0
    before = snapshot(out)
    assert cli(infer.main, _argv(tmp_path, model_files, out)) == 2
    error_line(capsys.readouterr().err, "clsr-infer: error:", str(out), "results.json",
               "--overwrite")  # fmt: skip
    assert snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.tmp")] == []
    # --overwrite replaces the files of the same name and keeps the others
    (out / "mine.txt").write_text("keep me")
    assert cli(infer.main, _argv(tmp_path, model_files, out, "--overwrite", "--no-sheet")) == 0
    assert (out / "mine.txt").read_text() == "keep me"
    assert json.loads((out / "results.json").read_text())["images"][0]["rois"][0]["file"]


def _fail_under(monkeypatch, folder):
    """Make ``os.replace`` into or out of ``folder`` fail, as if it had become unwritable."""
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if any(str(p).startswith(str(folder) + os.sep) for p in (src, dst)):
            raise PermissionError(13, "Permission denied", str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


def test_failed_publish_leaves_the_folder_exactly_as_it_was(
    tmp_path, model_files, capsys, monkeypatch
):
    out = tmp_path / "out"
    assert cli(infer.main, _argv(tmp_path, model_files, out, images=("a", "b"))) == 0
    before = snapshot(out)
    with monkeypatch.context() as m:
        _fail_under(m, out / "b")  # a/ is published first, then b/ fails
        argv = _argv(tmp_path, model_files, out, "--overwrite", images=("a", "b"))
        assert cli(infer.main, argv) == 1
    error_line(capsys.readouterr().err, "clsr-infer: error:", "Permission denied")
    assert snapshot(out) == before  # old results.json and ROI files back, bytes and modes
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.tmp")] == []


def test_failed_publish_into_an_unrelated_folder_leaves_nothing(
    tmp_path, model_files, capsys, monkeypatch
):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("mine")
    before = snapshot(out)
    _fail_under(monkeypatch, out / "b")
    assert cli(infer.main, _argv(tmp_path, model_files, out, images=("a", "b"))) == 1
    error_line(capsys.readouterr().err, "Permission denied")
    assert snapshot(out) == before  # no a/ folder, no results.json
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.tmp")] == []


def test_outputs_have_the_umask_mode(tmp_path, model_files):
    out = tmp_path / "out"
    assert cli(infer.main, _argv(tmp_path, model_files, out)) == 0
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) == 4  # 2 ROIs, sheet.png, results.json
    for p in files:
        assert p.stat().st_mode & 0o777 == umask_mode(), p
    assert out.stat().st_mode & 0o777 == umask_mode(directory=True)


def test_a_killed_runs_temporary_folder_is_removed_by_the_next_run(tmp_path, model_files):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.tmp-{dead.pid}-abc123"
    (stale / "a").mkdir(parents=True)
    (stale / "a" / "roi00.png").write_bytes(b"half")
    alive = tmp_path / f".out.tmp-{os.getpid()}-def456"  # a running process's: kept
    alive.mkdir()
    assert cli(infer.main, _argv(tmp_path, model_files, tmp_path / "out")) == 0
    assert not stale.exists() and alive.exists()


@pytest.mark.parametrize("value", ["inf", "nan", "0.5", "-1", "abc"])
def test_context_window_must_be_finite(tmp_path, model_files, capsys, value):
    out = tmp_path / "out"
    assert cli(infer.main, _argv(tmp_path, model_files, out, "--context-window", value)) == 2
    error_line(capsys.readouterr().err, "clsr-infer: error:", "--context-window", value)
    assert not out.exists()


def test_bench_context_windows_must_be_finite(tmp_path, model_files, capsys):
    from clsr_plugin import bench

    weights, opt = model_files
    argv = ["--opt", opt, "--weights", weights, "--out", str(tmp_path / "b"),
            "--context-windows", "inf"]  # fmt: skip
    assert cli(bench.main, argv) == 2
    assert "--context-windows" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_sigterm_removes_the_temporary_folder(tmp_path, model_files):
    """``kill`` (SIGTERM) mid-run: exit 143, no hidden folder, no --out."""
    import signal
    import time

    from tiny_job import child_env

    weights, opt = model_files
    image = write_jpeg(tmp_path / "big.jpg", h=256, w=256)
    rois = tmp_path / "rois.json"
    rois.write_text(
        json.dumps([[x, y, 16, 16] for x in range(0, 240, 24) for y in range(0, 240, 24)])
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "clsr_plugin.infer", str(image), "--rois-json", str(rois),
           "--opt", opt, "--weights", weights, "--out", str(out), "--device", "cpu"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.tmp-*")) and proc.poll() is None:  # processing
        assert time.monotonic() < deadline, "no output within 120 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    log = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 128 + signal.SIGTERM, log[-2000:]
    assert "Traceback" not in log
    assert not list(tmp_path.glob(".out.tmp-*")) and not out.exists()

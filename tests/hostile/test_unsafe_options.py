"""Issue 11, items 1 and 2: options files never execute code.

``path: {allow_unsafe_pickle: 'false'}`` (a string) used to enable full unpickling, and a
``!!python/...`` tag in a training YAML used to run when BasicSR parsed it. Each case plants a
payload that would create a marker file and asserts the marker never appears.
"""

from __future__ import annotations

import shutil
from collections import OrderedDict
from pathlib import Path

import basicsr
import pytest
import yaml
from _clsr_tiny import TINY_OPT, tiny_clsr
from hostile_helpers import (
    cli,
    error_line,
    evil_checkpoint,
    localsr_train_options,
    marker_payload,
    write_jpeg,
)
from tiny_job import python, run

from clsr_plugin import bench, infer
from clsr_plugin import test as clsr_test
from clsr_plugin import train as clsr_train
from clsr_plugin.utils.options import OptionsError, load_yaml


def _evil_yaml(path: Path, opt: dict, marker: Path) -> Path:
    """``opt`` as YAML with ``name:`` replaced by a payload that creates ``marker``."""
    text = yaml.safe_dump(dict(opt, name="PLACEHOLDER"), sort_keys=False)
    path.write_text(text.replace("PLACEHOLDER", marker_payload(marker)))
    return path


def _payload_line(path: Path) -> int:
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if "!!python" in ln)


@pytest.mark.parametrize("value", ["false", "no", "0", 1, "true"])
def test_allow_unsafe_pickle_must_be_the_boolean_in_clsr_infer(tmp_path, capsys, value):
    marker = tmp_path / "marker"
    weights = evil_checkpoint(tmp_path / "evil.pth", marker, tiny_clsr().state_dict())
    opt = tmp_path / "opt.yml"
    opt.write_text(yaml.safe_dump(
        {"scale": 4, "network_g": TINY_OPT, "path": {"allow_unsafe_pickle": value}}
    ))  # fmt: skip
    image = write_jpeg(tmp_path / "photo.jpg")
    out = tmp_path / "out"
    argv = [str(image), "--roi", "0,0,8,8", "--opt", str(opt), "--weights", str(weights),
            "--out", str(out), "--device", "cpu"]  # fmt: skip
    assert cli(infer.main, argv) == 2
    error_line(capsys.readouterr().err, "path.allow_unsafe_pickle", repr(value))
    assert not marker.exists() and not out.exists()


def test_allow_unsafe_pickle_string_in_training_is_refused_before_the_experiment(
    tmp_path, monkeypatch, capsys
):
    marker = tmp_path / "marker"
    weights = evil_checkpoint(tmp_path / "evil.pth", marker)
    opt = localsr_train_options(tmp_path, allow_unsafe_pickle="false")
    opt["path"]["pretrain_network_g"] = str(weights)
    (tmp_path / "opt.yml").write_text(yaml.safe_dump(opt, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    assert cli(clsr_train.main, ["-opt", "opt.yml"], monkeypatch) == 2
    error_line(capsys.readouterr().err, "clsr-train", "path.allow_unsafe_pickle", "'false'")
    assert not marker.exists() and not (tmp_path / "experiments").exists()


@pytest.mark.parametrize("which", ["train", "test"])
def test_python_tag_in_train_or_test_options_is_refused(tmp_path, monkeypatch, capsys, which):
    marker = tmp_path / "marker"
    opt = localsr_train_options(tmp_path)
    yml = _evil_yaml(tmp_path / "evil.yml", opt, marker)
    monkeypatch.chdir(tmp_path)
    main = clsr_train.main if which == "train" else clsr_test.main
    assert cli(main, ["-opt", "evil.yml"], monkeypatch) == 2
    error_line(capsys.readouterr().err, f"clsr-{which}", f"evil.yml:{_payload_line(yml)}")
    assert not marker.exists()
    assert not (tmp_path / "experiments").exists() and not (tmp_path / "results").exists()


def test_python_tag_in_infer_and_bench_options_is_refused(tmp_path, capsys):
    marker = tmp_path / "marker"
    opt = _evil_yaml(tmp_path / "evil.yml", {"scale": 4, "network_g": TINY_OPT}, marker)
    weights = tmp_path / "w.pth"
    import torch

    torch.save({"params": tiny_clsr().state_dict()}, weights)
    image = write_jpeg(tmp_path / "photo.jpg")
    where = f"evil.yml:{_payload_line(opt)}"
    argv = [str(image), "--roi", "0,0,8,8", "--opt", str(opt), "--weights", str(weights),
            "--out", str(tmp_path / "out"), "--device", "cpu"]  # fmt: skip
    assert cli(infer.main, argv) == 2
    error_line(capsys.readouterr().err, "clsr-infer", where)
    argv = ["--opt", str(opt), "--weights", str(weights), "--out", str(tmp_path / "bench")]
    assert cli(bench.main, argv) == 2
    error_line(capsys.readouterr().err, "clsr-bench", where)
    assert not marker.exists() and not (tmp_path / "out").exists()
    assert not (tmp_path / "bench").exists()


def test_unmodified_basicsr_train_py_parses_safely(tmp_path):
    """``python basicsr/train.py`` (the autoload hook) goes through the same loader."""
    (tmp_path / "basicsr").mkdir()
    shutil.copy(Path(basicsr.__file__).parent / "train.py", tmp_path / "basicsr" / "train.py")
    marker = tmp_path / "marker"
    yml = _evil_yaml(tmp_path / "evil.yml", localsr_train_options(tmp_path), marker)
    out = run([python(), "basicsr/train.py", "-opt", yml.name], cwd=tmp_path)
    assert out.returncode == 2, out.stdout[-3000:]
    error_line(out.stdout, f"evil.yml:{_payload_line(yml)}", "!!python/object/apply:os.system")
    assert not marker.exists() and not (tmp_path / "experiments").exists()


def test_safe_loader_keeps_basicsr_ordered_mappings_and_float_tags(tmp_path):
    path = tmp_path / "opt.yml"
    path.write_text("b: 1\na:\n  lr: !!float 2e-4\n  z: ~\n  y: [1, 2]\nc: true\n")
    opt = load_yaml(path)
    assert isinstance(opt, OrderedDict) and list(opt) == ["b", "a", "c"]
    assert isinstance(opt["a"], OrderedDict) and list(opt["a"]) == ["lr", "z", "y"]
    assert opt["a"]["lr"] == 2e-4 and isinstance(opt["a"]["lr"], float)
    assert opt["a"]["z"] is None and opt["c"] is True
    bad = tmp_path / "bad.yml"
    bad.write_text("a: 1\nb: !!python/name:os.system\n")
    with pytest.raises(OptionsError, match=r"bad.yml:2: YAML tag"):
        load_yaml(bad)

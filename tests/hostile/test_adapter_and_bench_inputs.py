"""Issue 24: hostile adapter files, checkpoints, network options and bench inputs.

Every case ends in exit code 2 and one ``<prog>: error:`` line naming the file or key, no
traceback and no output, through every entry point that reads the input: ``clsr-infer``,
``clsr-bench``, ``clsr-test`` (``path.pretrain_network_adapter_g``, ``network_g``; refused by
the options validator before BasicSR makes its folders) and ``load_clsr`` (a one-line
``ValueError`` / ``CheckpointError``). The checks live in one place each: ``read_adapter``
(metadata, values, the network the metadata describes), ``load_checkpoint`` (finite values),
``check_network_opt`` (``network_g``), ``read_image`` and ``check_large_image_memory`` (bench).
"""

from __future__ import annotations

import contextlib
import json
import re
import resource
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml
from _clsr_tiny import TINY_OPT, tiny_clsr
from hostile_helpers import cli, error_line, localsr_train_options, snapshot, truncated_copy
from safetensors import safe_open
from safetensors.torch import save_file

from clsr_plugin import bench, infer
from clsr_plugin import test as clsr_test
from clsr_plugin.archs import load_backbone_weights
from clsr_plugin.inference import load_clsr
from clsr_plugin.inference.adapter_file import read_adapter, save_adapter
from clsr_plugin.inference.api import build_clsr
from clsr_plugin.utils.checkpoint import CheckpointError, NonFiniteError

FROZEN = ["base", "gcm.extractor"]
#: the bench's quickest run (one ROI size, nothing timed twice)
FAST = ["--roi", "12", "--device", "cpu", "--repeats", "1", "--warmup", "0", "--timing-images",
        "0", "--multi-roi", "1", "--context-windows", "0", "--no-flops"]  # fmt: skip


@contextlib.contextmanager
def bounded_memory(extra_mib: int = 1024) -> Iterator[None]:
    """Cap this process's address space at its current size plus ``extra_mib`` and check
    afterwards that its peak RSS grew by less than 300 MiB: a regression that allocates
    what it should refuse fails here instead of swamping a shared machine."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    status = Path("/proc/self/status").read_text()
    size = int(re.search(r"VmSize:\s+(\d+) kB", status).group(1)) * 1024
    cap = size + extra_mib * 2**20
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak
    assert grown < 300 * 1024, f"{grown / 1024:.0f} MiB allocated before refusing"


def _png(path: Path, h: int = 48, w: int = 48, seed: int = 0) -> Path:
    img = (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)
    assert cv2.imwrite(str(path), img)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A tiny CLSR as backbone checkpoint + adapter, as a whole checkpoint + options, an LR
    photo and an HR folder of two good images."""
    root = tmp_path_factory.mktemp("inputs")
    net = tiny_clsr()
    net.gcm.load_extractor_from(net.base)  # G equals the frozen base branch, as in training
    backbone = root / "backbone.pth"
    torch.save({"params": net.base.state_dict()}, backbone)
    adapter = Path(save_adapter(root / "good.safetensors", net, TINY_OPT, FROZEN))
    full = root / "net_g.pth"
    torch.save({"params": net.state_dict()}, full)
    opt = root / "opt.yml"
    opt.write_text(yaml.safe_dump({"scale": 4, "network_g": TINY_OPT}))
    data = root / "data"
    data.mkdir()
    for i in range(2):
        _png(data / f"img{i}.png", 64, 72, seed=i)
    return dict(backbone=backbone, adapter=adapter, full=full, opt=opt, data=data,
                photo=_png(root / "photo.png"), root=root)  # fmt: skip


def test_the_good_inputs_load(files):
    """The control: the unmodified adapter and checkpoints pass every check."""
    state, meta = read_adapter(files["adapter"])
    assert meta["network_g"] == json.loads(json.dumps(TINY_OPT)) and state
    load_clsr(str(files["backbone"]), device="cpu", adapter=str(files["adapter"]))
    load_clsr(str(files["full"]), str(files["opt"]), device="cpu")


def test_the_good_inputs_pass_clsr_test(files, tmp_path, monkeypatch):
    """The control of the ``clsr-test`` harness below: the same options with good files run."""
    for sub, kwargs in (("a", dict(adapter=files["adapter"])), ("b", dict(opt=files["opt"]))):
        weights = files["backbone"] if "adapter" in kwargs else files["full"]
        code, run = _clsr_test(files, tmp_path / sub, monkeypatch, weights, **kwargs)
        assert code == 0 and (run / "results" / "hostile" / "metrics_synth.json").is_file()


# ------------------------------------------------------------------ entry points ---------------
def _infer(files, tmp_path, weights, opt=None, adapter=None, photo=None) -> tuple[int, Path]:
    out = tmp_path / "out"
    argv = [str(photo or files["photo"]), "--roi", "0,0,8,8", "--weights", str(weights),
            "--out", str(out), "--device", "cpu"]  # fmt: skip
    argv += ["--opt", str(opt)] * (opt is not None) + ["--adapter", str(adapter)] * bool(adapter)
    return cli(infer.main, argv), out


def _bench(files, tmp_path, weights, opt=None, adapter=None, *extra) -> tuple[int, Path]:
    out = tmp_path / "out"
    argv = ["--weights", str(weights), "--out", str(out), *FAST, *extra]
    if "--data" not in extra and "--lr-photos" not in extra and "--synthetic-sizes" not in extra:
        argv += ["--data", str(files["data"])]
    argv += ["--opt", str(opt)] * (opt is not None) + ["--adapter", str(adapter)] * bool(adapter)
    return cli(bench.main, argv), out


def _clsr_test(files, tmp_path, monkeypatch, weights, opt=None, adapter=None) -> tuple[int, Path]:
    """``clsr-test`` in-process in an empty folder (BasicSR writes ``results/`` there); an
    ``opt`` or ``adapter`` goes with a whole-CLSR / backbone checkpoint as in the CLIs."""
    options = localsr_train_options(tmp_path / "job")
    options["datasets"] = {"test_1": dict(options["datasets"]["train"], name="synth")}
    options.pop("train")
    options["val"] = {"save_img": False}
    options["network_g"] = yaml.safe_load(Path(opt or files["opt"]).read_text())["network_g"]
    key = "pretrain_network_backbone_g" if adapter else "pretrain_network_g"
    options["path"][key] = str(weights)
    if adapter:
        options["path"]["pretrain_network_adapter_g"] = str(adapter)
    yml = tmp_path / "job" / "test.yml"
    yml.write_text(yaml.safe_dump(options, sort_keys=False))
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.chdir(run)
    return cli(clsr_test.main, ["--opt", str(yml)], monkeypatch), run


def _api(files, tmp_path, weights, opt=None, adapter=None) -> str:
    with pytest.raises((ValueError, CheckpointError)) as info:
        load_clsr(str(weights), None if opt is None else str(opt), device="cpu",
                  adapter=None if adapter is None else str(adapter))  # fmt: skip
    message = str(info.value)
    assert "\n" not in message, message
    return message


def _every_entry_point(files, tmp_path, monkeypatch, capsys, needles, weights, opt=None,
                       adapter=None):  # fmt: skip
    """Each entry point refuses the input: exit code 2, one line with ``needles``, no output."""
    code, out = _infer(files, tmp_path / "infer", weights, opt, adapter)
    assert code == 2
    error_line(capsys.readouterr().err, "clsr-infer: error:", *needles)
    assert not out.exists()
    code, out = _bench(files, tmp_path / "bench", weights, opt, adapter)
    assert code == 2
    error_line(capsys.readouterr().err, "clsr-bench: error:", *needles)
    assert not out.exists()
    code, run = _clsr_test(files, tmp_path / "test", monkeypatch, weights, opt, adapter)
    assert code == 2
    error_line(capsys.readouterr().err, "clsr-test: error:", *needles)
    assert snapshot(run) == {}  # no results/ folder, no log
    message = _api(files, tmp_path, weights, opt, adapter)
    for needle in needles:
        assert needle in message, (needle, message)


# ------------------------------------------------------------------ adapter files ---------------
def _rewrite(
    src: Path, dst: Path, state_fn: Callable | None = None, meta_fn: Callable | None = None
):
    """A copy of the adapter ``src`` with its tensors / metadata (JSON decoded) changed."""
    with safe_open(str(src), "pt") as f:
        meta = dict(f.metadata())
        state = {k: f.get_tensor(k) for k in f.keys()}
    if state_fn is not None:
        state_fn(state)
    if meta_fn is not None:
        meta["network_g"] = json.loads(meta["network_g"])
        meta_fn(meta)
        meta["network_g"] = json.dumps(meta["network_g"])
    save_file(state, str(dst), metadata=meta)
    return dst


def _pim_weight(names) -> str:
    """The tensor the value cases change: the first PIM weight."""
    return next(k for k in sorted(names) if k.startswith("pim.") and k.endswith("weight"))


def _set_value(value: float) -> Callable:
    def change(state):
        name = _pim_weight(state)
        state[name] = state[name].clone()
        state[name].view(-1)[3] = value

    return change


def _int32(state):
    name = _pim_weight(state)
    state[name] = state[name].to(torch.int32)


def _network(**changes) -> Callable:
    return lambda meta: meta["network_g"].update(changes)


def _backbone(**changes) -> Callable:
    return lambda meta: meta["network_g"]["backbone"].update(changes)


def _drop(key: str) -> Callable:
    return lambda meta: meta.pop(key)


#: name -> (tensor change, metadata change, needles besides the file; {pim} = the tensor)
ADAPTER_CASES = {
    "NaN": (_set_value(float("nan")), None, ["tensor {pim}", "1 NaN"]),
    "Inf": (_set_value(float("inf")), None, ["tensor {pim}", "1 Inf"]),
    "int32 tensor": (_int32, None, ["tensor {pim} is int32, expected float32"]),
    "no frozen_sha256": (None, _drop("frozen_sha256"), ["lacks the key(s) frozen_sha256"]),
    "backbone type": (None, _network(type="MSRResNet"),
                      ["metadata network_g.type is 'MSRResNet', a backbone", "type: CLSR"]),
    "unknown key": (None, _network(roi_pda=4),
                    ["unknown key(s) roi_pda for CLSR", "valid keys: backbone, context, gcm"]),
    "roi_pad 2.5": (None, _network(roi_pad=2.5), ["metadata network_g.roi_pad", "2.5"]),
    "num_block 1000000": (None, _backbone(num_block=1000000),
                          ["metadata network_g describes a network of more than", "refusing"]),
    "num_feat 100000": (None, _backbone(num_feat=100000),
                        ["metadata network_g describes", "adapter parameters", "other shapes"]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ADAPTER_CASES))
def test_a_bad_adapter_is_refused_everywhere(files, tmp_path, monkeypatch, capsys, case):
    state_fn, meta_fn, needles = ADAPTER_CASES[case]
    bad = _rewrite(files["adapter"], tmp_path / "bad.safetensors", state_fn, meta_fn)
    pim = _pim_weight(read_adapter(files["adapter"])[0])
    needles = [str(bad), *(n.format(pim=pim) for n in needles)]
    with bounded_memory():  # num_block 1000000 / num_feat 100000: nothing is built
        _every_entry_point(files, tmp_path, monkeypatch, capsys, needles, files["backbone"],
                           adapter=bad)  # fmt: skip


# ------------------------------------------------------------------ checkpoints -----------------
def _non_finite_checkpoint(path: Path, state: dict, value: float) -> tuple[Path, str]:
    state = {k: v.clone() for k, v in state.items()}
    name = sorted(k for k in state if k.endswith("weight"))[1]
    state[name].view(-1)[0] = value
    if path.suffix == ".safetensors":  # named as in the file (no container key)
        save_file(state, str(path))
        return path, name
    torch.save({"params": state}, path)
    return path, f"params.{name}"


@pytest.mark.parametrize("value", [float("nan"), float("-inf")])
def test_a_non_finite_backbone_checkpoint_is_refused_everywhere(
    files, tmp_path, monkeypatch, capsys, value
):
    good = torch.load(files["backbone"])["params"]
    bad, tensor = _non_finite_checkpoint(tmp_path / "backbone.pth", good, value)
    needles = [str(bad), f"tensor {tensor} holds non-finite values"]
    _every_entry_point(files, tmp_path, monkeypatch, capsys, needles, bad,
                       adapter=files["adapter"])  # fmt: skip
    model = build_clsr(TINY_OPT)
    with pytest.raises(NonFiniteError, match=f"tensor {tensor} holds"):
        load_backbone_weights(model, str(bad))


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_a_non_finite_clsr_checkpoint_is_refused_everywhere(
    files, tmp_path, monkeypatch, capsys, suffix
):
    good = torch.load(files["full"])["params"]
    bad, tensor = _non_finite_checkpoint(tmp_path / f"net_g{suffix}", good, float("nan"))
    needles = [str(bad), f"tensor {tensor} holds non-finite values (1 NaN"]
    _every_entry_point(files, tmp_path, monkeypatch, capsys, needles, bad, files["opt"])


# ------------------------------------------------------------------ network options -------------
#: name -> (network_g, needles)
OPTION_CASES = {
    "roi_pad 2.5": (dict(TINY_OPT, roi_pad=2.5),
                    ["network_g.roi_pad must be an integer >= 0", "2.5"]),
    "unknown key": (dict(TINY_OPT, roi_pda=4),
                    ["network_g: unknown key(s) roi_pda for CLSR",
                     "valid keys: backbone, context, gcm, pim, roi_pad"]),
    "unknown backbone key": (dict(TINY_OPT, backbone=dict(TINY_OPT["backbone"], num_blok=2)),
                             ["network_g.backbone: unknown key(s) num_blok for MSRResNet",
                              "num_block"]),
    "backbone type": (dict(TINY_OPT, type="MSRResNet"),
                      ["network_g.type is 'MSRResNet', a backbone",
                       "backbone, gcm, roi_pad", "type: CLSR"]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(OPTION_CASES))
def test_bad_network_options_are_refused_everywhere(files, tmp_path, monkeypatch, capsys, case):
    network_g, needles = OPTION_CASES[case]
    opt = tmp_path / "bad.yml"
    opt.write_text(yaml.safe_dump({"scale": 4, "network_g": network_g}))
    _every_entry_point(files, tmp_path, monkeypatch, capsys, needles, files["full"], opt)


def test_an_integral_float_roi_pad_is_still_accepted():
    assert build_clsr(dict(TINY_OPT, roi_pad=4.0)).roi_pad == 4
    with pytest.raises(ValueError, match="roi_pad must be an integer >= 0"):
        build_clsr(dict(TINY_OPT, roi_pad=True))


# ------------------------------------------------------------------ bench inputs ----------------
def _text_png(path: Path) -> Path:
    path.write_text("this is not an image\n")
    return path


def _truncated_png(path: Path) -> Path:
    return truncated_copy(_png(path.with_name("whole_" + path.name), seed=5), path)


IMAGE_CASES = {
    "truncated PNG": (_truncated_png, "truncated PNG"),
    "text named .png": (_text_png, "Not a readable image"),
}


@pytest.mark.parametrize("case", list(IMAGE_CASES))
@pytest.mark.parametrize("where", ["--data", "--lr-photos"])
def test_bench_refuses_a_bad_image_before_running(files, tmp_path, capsys, case, where):
    make, needle = IMAGE_CASES[case]
    data = tmp_path / "data"
    data.mkdir()
    for good in sorted(files["data"].iterdir()):
        (data / good.name).write_bytes(good.read_bytes())
    if where == "--data":  # among the good images, after them
        bad = make(data / "zz_bad.png")
        extra = ["--data", str(data)]
    else:
        bad = make(tmp_path / "bad.png")
        extra = ["--data", str(data), "--lr-photos", str(bad)]
    code, out = _bench(files, tmp_path, files["full"], files["opt"], None, *extra)
    assert code == 2
    error_line(capsys.readouterr().err, "clsr-bench: error:", str(bad), needle)
    assert not out.exists()


@pytest.mark.parametrize("case", list(IMAGE_CASES))
def test_infer_refuses_the_same_bad_images(files, tmp_path, capsys, case):
    make, needle = IMAGE_CASES[case]
    bad = make(tmp_path / "bad.png")
    code, out = _infer(files, tmp_path, files["full"], files["opt"], photo=bad)
    assert code == 2
    error_line(capsys.readouterr().err, "clsr-infer: error:", str(bad), needle)
    assert not out.exists()


def test_bench_refuses_a_synthetic_size_beyond_memory(files, tmp_path, capsys):
    with bounded_memory():
        code, out = _bench(files, tmp_path, files["full"], files["opt"], None,
                           "--synthetic-sizes", "64", "100000x100000")  # fmt: skip
    assert code == 2
    line = error_line(capsys.readouterr().err, "clsr-bench: error:",
                      "--synthetic-sizes 100000x100000: needs at least 1,899.9 GiB",
                      "post-cropping's x4 output", "available")  # fmt: skip
    assert "MemAvailable" in line or "free on" in line
    assert not out.exists()

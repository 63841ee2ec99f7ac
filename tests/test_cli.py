"""Every console script: documented ``--help``; options by short name; the wheel ships them;
``clsr-train`` / ``clsr-test`` are quiet (BasicSR's banner, options and network in the log
file only, once)."""

import importlib
import inspect
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from tiny_job import child_env, python, run

from clsr_plugin import basicsr_cli
from clsr_plugin.option_files import available, options_root, resolve_options

ROOT = Path(__file__).resolve().parent.parent
#: console scripts as setup.py declares them: name -> module
SCRIPTS = dict(
    re.findall(r'"(clsr-[\w-]+)=(clsr_plugin[\w.]*):main"', (ROOT / "setup.py").read_text())
)
SHIPPED = sorted(
    p.relative_to(ROOT / "options").as_posix() for p in (ROOT / "options").rglob("*.yml")
)


def test_every_console_script_is_found():
    assert set(SCRIPTS) == {"clsr-train", "clsr-test", "clsr-infer", "clsr-bench", "clsr-demo",
                            "clsr-adapt"}  # fmt: skip


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_help_has_description_flag_help_and_example(script, tmp_path):
    parser = importlib.import_module(SCRIPTS[script]).build_parser()
    assert parser.prog == script and parser.description
    undocumented = [a.option_strings or a.dest for a in parser._actions if not a.help]
    assert not undocumented, undocumented
    out = run([python(), "-m", SCRIPTS[script], "--help"], cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:]
    text = out.stdout
    assert text.startswith(f"usage: {script}") and "\nexample:\n  " + script in text
    assert "``" not in text
    if script in ("clsr-train", "clsr-test"):  # what the plugin adds to BasicSR's flags
        assert "What the plugin adds to BasicSR's flags" in text and "--verbose" in text


def test_the_wrapper_mirrors_basicsr_flags():
    from basicsr.utils.options import parse_options

    src = inspect.getsource(parse_options)
    assert tuple(re.findall(r"add_argument\(\s*'(-[-\w]+)'", src)) == basicsr_cli.BASICSR_FLAGS
    parser = basicsr_cli.build_parser("train")
    ours = {s for a in parser._actions for s in a.option_strings}
    assert set(basicsr_cli.BASICSR_FLAGS) <= ours
    argv = ["--opt", "srresnet", "--auto_resume", "--verbose", "--force_yml", "a:b=1"]
    assert basicsr_cli.basicsr_argv(argv, "/x.yml") == [
        "-opt", "/x.yml", "--auto_resume", "--force_yml", "a:b=1"
    ]  # fmt: skip
    forwarded = basicsr_cli.basicsr_argv(["-opt=a.yml", "--debug"], "b.yml")
    assert forwarded == ["-opt", "b.yml", "--debug"]


def test_short_names_paths_and_errors(tmp_path, monkeypatch):
    root = options_root()
    assert resolve_options("srresnet", "train") == str(root / "clsr_srresnet_x4.yml")
    assert resolve_options("srresnet", "test") == str(root / "test_clsr_srresnet_x4.yml")
    assert resolve_options("srresnet") == str(root / "test_clsr_srresnet_x4.yml")  # test first
    assert resolve_options("demo", "train") == str(root / "demo" / "clsr_demo_x4.yml")
    assert resolve_options("msrresnet_adapters") == str(
        root / "adapters" / "clsr_msrresnet_adapters_x4.yml"
    )
    assert resolve_options("clsr_rcan_x4", "test") == str(root / "clsr_rcan_x4.yml")  # a stem
    mine = tmp_path / "mine.yml"
    mine.write_text("name: x\n")
    monkeypatch.chdir(tmp_path)  # outside the checkout: the README's paths still resolve
    assert resolve_options("mine.yml", "train") == "mine.yml"  # an existing file wins
    assert resolve_options("options/test_clsr_rcan_x4.yml") == str(root / "test_clsr_rcan_x4.yml")
    assert resolve_options("demo/test_clsr_demo_x4.yml") == str(root / "demo/test_clsr_demo_x4.yml")
    with pytest.raises(ValueError, match=r"^Options file not found: 'nope' .*: carn, demo, edsr"):
        resolve_options("nope", "test")
    with pytest.raises(ValueError, match="not found"):
        resolve_options("options/nope.yml")
    assert "msrresnet_adapters" in available("train") and "msrresnet_adapters" not in available(
        "test"
    )
    from clsr_plugin.inference.api import read_network_opt

    assert read_network_opt("rcan")[0]["backbone"]["type"] == "RCAN"  # clsr-infer / clsr-bench


def test_clsr_test_unknown_options_is_one_line_error(tmp_path, capsys):
    from clsr_plugin.test import main

    assert main(["--opt", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("clsr-test: error: Options file not found: 'nope'") and "\n" not in err


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    done = subprocess.run([*cmd, str(ROOT), "-w", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    (path,) = out.glob("clsr_plugin-*.whl")
    return path


def test_wheel_ships_every_options_file_and_the_demo_finds_them(wheel, tmp_path):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert SHIPPED and {f"clsr_plugin/options/{rel}" for rel in SHIPPED} <= names
    assert "clsr_plugin_autoload.pth" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "from clsr_plugin.demo import demo_options\n"
        "from clsr_plugin.option_files import resolve_options\n"
        "print(*demo_options(), resolve_options('options/test_clsr_srresnet_x4.yml'))\n"
    )
    env = child_env(PYTHONPATH=str(site))
    done = subprocess.run([python(), "-c", probe], cwd=elsewhere, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    paths = done.stdout.split()
    assert [Path(p).relative_to(site).as_posix() for p in paths] == [
        "clsr_plugin/options/demo/backbone_demo_x4.yml",
        "clsr_plugin/options/demo/clsr_demo_x4.yml",
        "clsr_plugin/options/test_clsr_srresnet_x4.yml",
    ]
    help_out = subprocess.run([python(), "-m", "clsr_plugin.demo", "--help"], cwd=elsewhere,
                              env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert help_out.returncode == 0 and "usage: clsr-demo" in help_out.stdout


def test_clsr_test_is_quiet_and_logs_banner_options_network_once(tmp_path):
    from _synthetic import write_synthetic_pairs

    hr, lr = write_synthetic_pairs(str(tmp_path / "data"), num_images=1, hr_size=(64, 64))
    backbone = dict(type="MSRResNet", num_feat=8, num_block=1, upscale=4)
    opt = dict(
        name="quiet", model_type="LocalSRModel", scale=4, num_gpu=0, manual_seed=0,
        datasets=dict(test_1=dict(name="synth", type="LocalSRPairedDataset", dataroot_gt=hr,
                                  dataroot_lq=lr, io_backend=dict(type="disk"), roi_size=8)),
        network_g=dict(type="CLSR", backbone=backbone, roi_pad=2, gcm=dict(num_patches=4)),
        path=dict(pretrain_network_g=None), val=dict(save_img=False),
    )  # fmt: skip
    (tmp_path / "quiet.yml").write_text(yaml.safe_dump(opt))
    out = run([python(), "-m", "clsr_plugin.test", "--opt", "quiet.yml"], cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:]
    (log,) = (tmp_path / "results" / "quiet").glob("test_quiet_*.log")
    text = log.read_text()
    for marker in ("Version Information", "model_type: LocalSRModel", "CLSR(\n"):
        assert marker not in out.stdout, marker
        assert text.count(marker) == 1, marker
    assert f"options and network: in {log}" in out.stdout
    assert "Network: CLSR, with parameters:" in out.stdout  # the summary line stays
    assert "Validation synth (ROI-wise" in out.stdout  # results on the console
    verbose = run([python(), "-m", "clsr_plugin.test", "--opt", "quiet.yml", "--verbose"],
                  cwd=tmp_path)  # fmt: skip
    assert verbose.returncode == 0 and "Version Information" in verbose.stdout

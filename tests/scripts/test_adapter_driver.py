"""scripts/adapters: the runs differ only where the table says; the breakdown adds up."""

import json
import os
import os.path as osp
import sys
from pathlib import Path

import pytest
import yaml

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, "scripts", "adapters"))

import breakdown  # noqa: E402
import driver  # noqa: E402
import seeds  # noqa: E402


def _strip(opt):
    """The options without what may differ between runs by design."""
    opt = json.loads(json.dumps(opt))
    opt.pop("name")
    opt["network_g"].pop("context")
    opt["network_g"].pop("gcm")
    opt["network_g"].pop("roi_pad")
    opt["network_g"].pop("pim")
    opt["network_g"].pop("backbone")
    for key in ("lq_size", "roi_size", "roi_placement", "use_rot"):
        opt["datasets"]["train"].pop(key)
    for key in ("freeze", "lr_multipliers", "context_opt"):
        opt["train"].pop(key, None)
    return opt


@pytest.mark.parametrize("budget", sorted(driver.BUDGETS))
def test_runs_share_everything_but_what_the_table_varies(budget):
    opts = {r: driver.train_options(r, budget, "/data", "/bb.pth") for r in driver.RUNS}
    assert all(_strip(opts["r1"]) == _strip(o) for o in opts.values())
    gcm = {r: o["network_g"]["gcm"] for r, o in opts.items()}
    assert gcm["r1"] == gcm["r2"] == gcm["r3"] and gcm["r1"]["num_patches"] == 256
    assert gcm["r4"] == dict(gcm["r1"], selection="topk")
    assert gcm["r5"] == dict(gcm["r1"], num_patches=64)
    assert gcm["r6"] == dict(gcm["r1"], num_patches=64, selection="topk")
    assert opts["r1"]["datasets"]["train"] == opts["r6"]["datasets"]["train"]
    pads = {r: o["network_g"]["roi_pad"] for r, o in opts.items()}
    assert pads == dict.fromkeys(pads, 8) | {"r7": 4, "r8": 0, "r9": 2}  # cost rows (issue 14)
    gcm = {r: g for r, g in gcm.items() if r != "r17"}  # R17 has no GCM
    assert gcm["r9"] == dict(gcm["r1"], num_patches=32)
    assert gcm["r7"] == gcm["r8"] == gcm["r5"]
    r1, r2, r3 = opts["r1"], opts["r2"], opts["r3"]
    assert r1["network_g"]["context"] == "image" and r2["network_g"]["context"] == "window"
    assert r1["datasets"]["train"] == r2["datasets"]["train"]  # same data, seed, sampling
    assert (r3["datasets"]["train"]["lq_size"], r3["datasets"]["train"]["roi_size"]) == (54, 48)
    # the recipe rows (issue 21) and their controls differ from R1 / R2 only as named
    assert gcm["r10"] == gcm["r11"] == dict(gcm["r1"], stage=2)
    for row, control in (("r10", "r11"), ("r12", "r13"), ("r14", "r15")):
        a, c = opts[row], opts[control]
        assert (a["network_g"]["context"], c["network_g"]["context"]) == ("image", "window")
        assert a["datasets"] == c["datasets"] and a["train"] == c["train"]
    assert opts["r12"]["train"]["freeze"] == ["base"]
    # E1 / W1 (and controls) are R1 / R2 on another frozen backbone, with its own weights
    for arch, (a, c) in (("edsr", ("e1", "e2")), ("swinir_light", ("w1", "w2"))):
        assert opts[a]["network_g"]["backbone"] == driver.ARCHS[arch].backbone
        assert opts[a]["network_g"]["backbone"] == opts[c]["network_g"]["backbone"]
        assert opts[c]["network_g"]["context"] == "window"
        for x, y in ((a, "r1"), (c, "r2")):
            assert opts[x]["network_g"]["gcm"] == opts[y]["network_g"]["gcm"]
            assert (
                opts[x]["datasets"] == opts[y]["datasets"] and opts[x]["train"] == opts[y]["train"]
            )
        default = driver.train_options(a, budget, "/data", None)["path"]
        assert default["pretrain_network_backbone_g"].endswith(driver.ARCHS[arch].weights)
    assert opts["r1"]["network_g"]["backbone"]["type"] == "MSRResNet"
    assert driver.export_path("e1").endswith("edsr_r1.safetensors")
    assert driver.export_path("w1").endswith("swinir_light_r1.safetensors")
    assert driver.export_path("r7").endswith("msrresnet_default.safetensors")  # the default
    assert driver.export_path("r7s1").endswith("msrresnet_r7s1.safetensors")
    # the long run and its control are the published best pair; other long runs keep the budget
    assert driver.export_path("r14", "cpu_long").endswith("msrresnet_best.safetensors")
    assert driver.export_path("r15", "cpu_long").endswith("msrresnet_best_control.safetensors")
    assert driver.export_path("r14").endswith("msrresnet_r14.safetensors")
    assert driver.export_path("r14s1", "cpu_long").endswith("msrresnet_r14s1_cpu_long.safetensors")
    assert driver.export_path("r7", "cpu_long").endswith("msrresnet_r7_cpu_long.safetensors")
    assert opts["r14"]["datasets"]["train"]["lq_size"] == (80, 120)
    assert opts["r14"]["datasets"]["train"]["use_rot"] is False  # one shape per batch
    r16, r17 = opts["r16"], opts["r17"]
    assert r16["train"]["freeze"] == ["gcm.extractor"] and r17["train"]["freeze"] == []
    assert r16["train"]["lr_multipliers"] == r17["train"]["lr_multipliers"] == {"base": 0.01}
    assert r17["network_g"]["pim"] is False and r17["network_g"]["gcm"] is False
    assert "context_opt" not in r17["train"] and "context_opt" in r16["train"]
    assert r16["datasets"] == r17["datasets"] == r1["datasets"]
    b = driver.BUDGETS[budget]
    tr = r1["train"]
    assert tr["freeze"] == ["base", "gcm.extractor"]
    assert tr["total_iter"] == tr["scheduler"]["periods"][0] == tr["context_opt"]["end_iter"]
    assert tr["total_iter"] == b["iters"] and tr["optim_g"]["lr"] == b["lr"]
    assert r1["datasets"]["train"]["batch_size_per_gpu"] == b["batch"]
    assert r1["path"]["pretrain_network_backbone_g"] == "/bb.pth"
    assert r1["datasets"]["train"]["dataroot_gt"] == "/data/train291"


def test_test_options_whole_image_context_and_baselines_once(tmp_path):
    folder = driver.dataset_folder(str(tmp_path), str(tmp_path / "w"), "Set5", None)
    assert folder == str(tmp_path / "benchmark" / "Set5")
    r1 = driver.test_options("r1", "cpu", "/d", "/bb.pth", "Set5", 24, "/a.safetensors")
    r2 = driver.test_options("r2", "cpu", "/d", "/bb.pth", "Set5", 24, "/a.safetensors")
    assert r1["val"]["baselines"] and not r2["val"]["baselines"]
    seed = driver.test_options("r1s1", "cpu", "/d", "/bb.pth", "Set5", 24, "/a.safetensors")
    assert not seed["val"]["baselines"]  # the frozen backbone's baselines come with seed 0
    assert r1["val"]["per_roi"] and r1["val"]["flops"]
    ds = r1["datasets"]["test_1"]
    assert ds["roi_size"] == 24 and "dataroot_lq" not in ds and ds["name"] == "Set5_r24"
    assert r1["path"] == {"pretrain_network_backbone_g": "/bb.pth",
                          "pretrain_network_adapter_g": "/a.safetensors"}  # fmt: skip
    assert r2["network_g"]["context"] == "window"


def test_evaluation_only_row_uses_the_adapter_of_its_run(tmp_path, capsys, monkeypatch):
    args = driver.build_parser().parse_args(["train", "--work", str(tmp_path), "--dry-run"])
    driver.stage_train("r4", args)
    assert "evaluates the adapter of r1" in capsys.readouterr().out
    assert not (tmp_path / "cpu" / "r4").exists()
    results = tmp_path / "results"
    results.mkdir()
    monkeypatch.setattr(driver, "RESULTS", str(results))
    assert driver.ensure_adapter("r4", args) == driver.adapter_path(str(tmp_path), "cpu", "r1")
    # not trained here (a fresh clone): the committed adapter of the row
    (results / "msrresnet_r1.safetensors").write_bytes(b"x")
    assert driver.ensure_adapter("r4", args) == str(results / "msrresnet_r1.safetensors")


def test_a_finished_committed_state_is_tested_and_exported_without_training(tmp_path, monkeypatch):
    from clsr_plugin.inference import adapter_file
    from clsr_plugin.models import run_state

    args = driver.build_parser().parse_args(["export", "--work", str(tmp_path / "w")])
    monkeypatch.setattr(driver, "STATES", str(tmp_path / "state"))
    monkeypatch.setattr(driver, "RESULTS", str(tmp_path / "results"))
    calls = []

    def fake_import(src, exp, network, backbone):
        calls.append(src)
        os.makedirs(osp.join(exp, "models"), exist_ok=True)
        open(osp.join(exp, "models", "net_g_600.pth"), "wb").close()
        return 600

    monkeypatch.setattr(run_state, "import_run_state", fake_import)
    monkeypatch.setattr(adapter_file, "export_adapter",
                        lambda full, *a: calls.append(osp.basename(full)))  # fmt: skip
    state = tmp_path / "state" / "r2"
    state.mkdir(parents=True)
    (state / run_state.META).write_text('{"iter": 550}')  # unfinished: train resumes it
    assert driver.checkpoint_from_state("r2", args) is None
    driver.ensure_adapter("r2", args)
    assert calls == ["net_g_latest.pth"]  # nothing rebuilt: the (missing) latest checkpoint
    (state / run_state.META).write_text('{"iter": 600}')  # the cpu budget's 600: finished
    calls.clear()
    assert driver.ensure_adapter("r2", args) == driver.adapter_path(args.work, "cpu", "r2")
    assert calls == [str(state), "net_g_600.pth"]
    calls.clear()
    driver.ensure_adapter("r2", args)  # rebuilt once
    assert calls == ["net_g_600.pth"]


def test_dataset_subset_links_the_first_images(tmp_path):
    src = tmp_path / "benchmark" / "Urban100_dev"
    src.mkdir(parents=True)
    for i in (3, 1, 2):
        (src / f"img_{i:03d}.png").write_bytes(b"x")
    folder = driver.dataset_folder(str(tmp_path), str(tmp_path / "w"), "Urban100_dev", 2)
    assert sorted(os.listdir(folder)) == ["img_001.png", "img_002.png"]
    assert driver.test_label("Urban100_dev", 24, folder) == "Urban100_dev_first2_r24"
    # idempotent
    assert driver.dataset_folder(str(tmp_path), str(tmp_path / "w"), "Urban100_dev", 2) == folder


def test_dry_run_prints_every_call_and_unknown_runs_fail(tmp_path, capsys):
    bench = tmp_path / "benchmark"
    for name in driver.TEST_SETS:
        (bench / name).mkdir(parents=True)
    args = ["--data", str(tmp_path), "--work", str(tmp_path / "w"), "--dry-run"]
    assert driver.main(["train", "r1", "r2", *args]) == 0
    out = capsys.readouterr().out
    assert out.count("clsr_plugin.train") == 2 and "--auto_resume" in out
    assert driver.main(["test", "r2", *args]) == 0
    out = capsys.readouterr().out
    assert out.count("clsr_plugin.test") == len(driver.TEST_SETS) * len(driver.TEST_ROIS)
    assert driver.main(["bench", "r2", *args]) == 0
    out = capsys.readouterr().out
    assert "--adapter" in out and "--context-windows 0 " in out and "--opt" not in out
    assert driver.main(["bench", "r4", *args]) == 0  # its options differ from r1's adapter
    net = tmp_path / "w" / "cpu" / "r4" / "bench" / "network.yml"
    assert f"--opt {net}" in capsys.readouterr().out
    assert yaml.safe_load(net.read_text())["network_g"]["gcm"]["selection"] == "topk"
    assert driver.main(["train", "r99", *args]) == 2


def _rois_file(mses):
    """One 72x96 LR image with a border ROI (0, 0) and an inner one (24, 24), 24 px each."""
    return {
        "dataset": "d",
        "images": [
            {"image": "a", "lq_hw": [72, 96], "rois": [[0, 0, 24, 24], [24, 24, 24, 24]],
             "mse": mses},
        ],
    }  # fmt: skip


def test_breakdown_bins_and_differences():
    assert breakdown.border_distance([24, 24, 24, 24], 72, 96) == 24
    assert breakdown.bin_of(0) == "border" and breakdown.bin_of(30) == "24-47"
    r1 = _rois_file({"post": [4.0, 1.0], "clsr": [2.0, 1.0]})
    r2 = _rois_file({"clsr": [4.0, 0.5]})
    out = breakdown.breakdown({"r1": r1, "r2": r2}, "post")
    assert out["reference"] == "r1:post"
    border, inner = out["bins"]["border"], out["bins"]["24-47"]
    assert border["n"] == 1 and inner["n"] == 1
    assert border["r1:clsr"] == pytest.approx(10 * __import__("math").log10(2))
    assert inner["r2:clsr"] == pytest.approx(10 * __import__("math").log10(2))
    assert out["images"]["a"]["r1:clsr"] == pytest.approx(10 * __import__("math").log10(5 / 3))
    assert "| border | 1 |" in breakdown.to_markdown(out)
    with pytest.raises(ValueError, match="differs"):
        breakdown.breakdown({"r1": r1, "r2": {"images": [dict(r2["images"][0], image="b")]}})
    assert "paired" not in border  # one image: no interval


def test_breakdown_pairs_each_group_over_images():
    import math

    # image a: a border ROI with a large gain; image b: a border ROI of small error that loses
    r1 = _rois_file({"post": [4.0, 1.0], "clsr": [1.0, 1.0]})
    b = dict(r1["images"][0], image="b", mse={"post": [0.01, 1.0], "clsr": [0.02, 1.0]})
    r1["images"].append(b)
    out = breakdown.breakdown({"r1": r1}, "post")
    border = out["bins"]["border"]
    # pooled over the group's ROIs the gain looks large; per image it is one gain, one loss
    assert border["r1:clsr"] == pytest.approx(10 * math.log10(4.01 / 1.02))
    d = border["paired"]["r1:clsr"]
    assert d["mean"] == pytest.approx((10 * math.log10(4) - 10 * math.log10(2)) / 2)
    assert (d["n"], d["gain"], d["lose"]) == (2, 1, 1)
    assert out["bins"]["24-47"]["paired"]["r1:clsr"]["tie"] == 2
    assert "| border | 2 | +" in breakdown.to_markdown(out)


def test_table_keeps_committed_runs_this_machine_lacks():
    new = {"budget": "cpu", "runs": {"r4": {"metrics": {"a": 2}}}, "breakdown": {}}
    old = {"budget": "cpu", "runs": {"r1": {"metrics": {"a": 1}}, "r4": {"metrics": {"a": 0}}},
           "breakdown": {"Set5_r24": {"x": 1}}}  # fmt: skip
    merged = driver.merge_committed(new, old)
    assert merged["runs"] == {"r4": {"metrics": {"a": 2}}, "r1": {"metrics": {"a": 1}}}
    assert merged["breakdown"] == {"Set5_r24": {"x": 1}}
    gpu = {"budget": "gpu", "runs": {"r9": {}}, "breakdown": {}}
    assert "r9" not in driver.merge_committed(new, gpu)["runs"]


def test_committed_results_stand_in_for_a_missing_work_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(driver, "ARCHIVE", str(tmp_path / "runs"))
    monkeypatch.setattr(driver, "STATES", str(tmp_path / "state"))  # not the repo's own
    args = driver.build_parser().parse_args(["table", "--work", str(tmp_path / "work")])
    res = tmp_path / "work" / "cpu" / "r14s1" / "results" / "t"
    res.mkdir(parents=True)
    metrics = {"dataset": "U_r24", "clsr/psnr_img": 23.0}
    rois = {"dataset": "U_r24", "images": [{"image": "a", "mse": {"clsr": [0.5]}}]}
    (res / "metrics_U_r24.json").write_text(json.dumps(metrics))
    (res / "rois_U_r24.json").write_text(json.dumps(rois))
    (res / "other.json").write_text("{}")
    # a long run's validation history (a list, not a test's metrics) is archived beside them
    exp = Path(driver.models_dir(str(tmp_path / "work"), "cpu", "r14s1")).parent
    exp.mkdir(parents=True)
    (exp / "metrics_history_Urban100_dev_val.json").write_text(json.dumps([{"iter": 200}]))
    written = driver.archive_results("r14s1", args)
    assert sorted(osp.basename(p) for p in written) == [
        "metrics_U_r24.json.gz",
        "metrics_history_Urban100_dev_val.json.gz",
        "rois_U_r24.json.gz",
    ]
    local = driver.collect(args)["runs"]["r14s1"]["metrics"]
    import shutil

    shutil.rmtree(tmp_path / "work")  # a fresh clone: only the committed files
    assert driver.run_ids(str(tmp_path / "work"), "cpu") == ["r14s1"]
    files = driver.result_files("r14s1", args)
    assert sorted(files) == ["metrics_U_r24.json", "rois_U_r24.json"]  # not the history
    assert driver.read_json(files["rois_U_r24.json"]) == rois
    assert driver.collect(args)["runs"]["r14s1"]["metrics"] == local == {"U_r24": metrics}
    assert driver.run_ids(str(tmp_path / "work"), "cpu_long") == []  # other budgets apart


def test_a_recomputed_seed_table_keeps_committed_seeds():
    def run(row, seed, mean):
        return {"row": row, "seed": seed, "minus_ref": {"mean": mean}}

    def contrast(seeds):
        return {"seeds": seeds, "per_seed": {s: {"mean": s} for s in seeds},
                "seed_averaged": {"mean": sum(seeds)}}  # fmt: skip

    old = {"runs": {"r14": run("r14", 0, 0.012), "r1": run("r1", 0, 0.5)},
           "rows": {"r14": {"seeds": [0], "seed_averaged": "old"}},
           "contrasts": {"r14 - r15": contrast([0])}}  # fmt: skip
    new = {"runs": {"r14s1": run("r14", 1, 0.008), "r1": run("r1", 0, 0.6)},
           "rows": {"r14": {"seeds": [1], "seed_averaged": "new"}},
           "contrasts": {"r14 - r15": contrast([1])}}  # fmt: skip
    merged = seeds.merge_tables(new, old)
    assert sorted(merged["runs"]) == ["r1", "r14", "r14s1"]
    assert merged["runs"]["r1"]["minus_ref"]["mean"] == 0.6  # the recomputed run wins
    row = merged["rows"]["r14"]
    assert row["seeds"] == [0, 1] and row["mean"] == pytest.approx(0.010)
    assert row["spread"] == pytest.approx(0.0028284, abs=1e-6)
    assert (row["seed_averaged"], row["averaged_seeds"]) == ("new", [1])  # CI: seed 1 only
    c = merged["contrasts"]["r14 - r15"]
    assert c["seeds"] == [0, 1] and sorted(c["per_seed"]) == ["0", "1"]
    assert c["averaged_seeds"] == [1] and c["seed_averaged"] == {"mean": 1}
    old_wide = dict(old, rows={"r14": {"seeds": [0, 2, 3], "seed_averaged": "old"}})
    assert seeds.merge_tables(new, old_wide)["rows"]["r14"]["averaged_seeds"] == [0, 2, 3]
    driver_data = {"budget": "cpu", "runs": {}, "breakdown": {}, "seeds": {"U": new}}
    merged = driver.merge_committed(driver_data, dict(driver_data, seeds={"U": old}))
    assert merged["seeds"]["U"]["contrasts"]["r14 - r15"]["seeds"] == [0, 1]


def _metrics(paired=None):
    m = {"dataset": "Set5_r24"}
    for meth in ("pre_nopad", "pre_pad", "post", "clsr"):
        m.update({f"{meth}/psnr_roi": 30.0, f"{meth}/psnr_img": 29.0, f"{meth}/ssim_roi": 0.9,
                  f"{meth}/gflops": 1.0})  # fmt: skip
    if paired is not None:
        m["paired"] = paired
    return m


def test_table_shows_the_paired_difference_to_post_or_a_dash():
    d = dict(mean=0.0123, low=0.0041, high=0.0205, n=5, gain=4, lose=1, tie=0, level=0.95)
    data = {"runs": {
        "r1": {"metrics": {"Set5_r24": _metrics({"image": {"clsr - post": d}, "roi": {}})}},
        "r7": {"metrics": {"Set14_r24": _metrics()}},  # older results: no ``paired``
        "r2": {"metrics": {"Set5_r24": _metrics({"image": {}, "roi": {}})}},  # no baselines
    }}  # fmt: skip
    table = driver.markdown_table(data)
    header = table.splitlines()[0]
    assert header.endswith("| GFLOPs/ROI | minus post per image [95% CI] | images gain/lose |")
    rows = {tuple(c.strip() for c in line.split("|")[1:3]): line for line in table.splitlines()}
    assert rows[("Set5_r24", "R1")].endswith("| 1.00 | +0.0123 [+0.0041, +0.0205] | 4/1 of 5 |")
    assert rows[("Set5_r24", "post")].endswith("| 1.00 | - | - |")
    assert rows[("Set14_r24", "R7")].endswith("| 1.00 | - | - |")
    assert rows[("Set5_r24", "R2")].endswith("| 1.00 | - | - |")
    assert all(line.count("|") == header.count("|") for line in table.splitlines())


def test_table_pairs_a_seed_without_baselines_with_the_reference_post():
    d = dict(mean=-0.0065, low=-0.0181, high=0.0050, n=45, gain=18, lose=27, tie=0, level=0.95)
    data = {
        "runs": {
            "r15s1": {"metrics": {"U_r24": _metrics({"image": {}, "roi": {}})}},
            "r2s3": {"metrics": {"V_r24": _metrics()}},
        },
        "seeds": {"U_r24": {"reference": "r14:post", "runs": {"r15s1": {"minus_ref": d}}}},
    }
    rows = {tuple(c.strip() for c in line.split("|")[1:3]): line
            for line in driver.markdown_table(data).splitlines()}  # fmt: skip
    assert rows[("U_r24", "R15 s1")].endswith(
        "| -0.0065 [-0.0181, +0.0050] (vs r14:post) | 18/27 of 45 |"
    )
    assert rows[("V_r24", "R2 s3")].endswith("| - | - |")  # no seed table for its set


def test_run_ids_carry_a_seed_and_the_cpu_loader_resumes_exactly():
    assert driver.parse_run("r1") == ("r1", 0) and driver.parse_run("r2s12") == ("r2", 12)
    for bad in ("r99", "r1s", "r1sx", "s1"):
        with pytest.raises(ValueError, match="unknown run"):
            driver.parse_run(bad)
    r1 = driver.train_options("r1", "cpu", "/d", "/bb.pth")
    r1s2 = driver.train_options("r1s2", "cpu", "/d", "/bb.pth")
    assert (r1["manual_seed"], r1s2["manual_seed"]) == (0, 2)
    assert r1s2["name"] == "adapters_msrresnet_r1s2_cpu"
    assert _strip(dict(r1, manual_seed=2)) == _strip(r1s2)  # the seed is all that differs
    ds, b = r1["datasets"]["train"], driver.BUDGETS["cpu"]
    # every checkpoint an epoch end, data drawn in the main process (training_state)
    assert ds["samples_per_epoch"] == b["batch"] * b["ckpt"] and ds["num_worker_per_gpu"] == 0
    assert ds["dataset_enlarge_ratio"] == 1
    assert r1["logger"]["save_checkpoint_freq"] == b["ckpt"]
    assert driver.state_dir("r1s2", "cpu").endswith(osp.join("docs", "results", "state", "r1s2"))


def test_seed_table_pairs_over_images_and_spreads_over_seeds():
    def rois(mses):  # two images of one ROI each
        return {"images": [{"image": n, "lq_hw": [72, 96], "rois": [[24, 24, 24, 24]],
                            "mse": {k: [v[i]] for k, v in mses.items()}}
                           for i, n in enumerate(("a", "b"))]}  # fmt: skip

    post = [1.0, 1.0]
    files = {"r1": rois({"post": post, "clsr": [0.5, 1.0]}), "r1s1": rois({"clsr": [1.0, 0.5]}),
             "r2": rois({"clsr": [1.0, 1.0]}), "r2s1": rois({"clsr": [1.0, 1.0]})}  # fmt: skip
    table = seeds.seed_table(files, driver.parse_run)
    db = 10 * __import__("math").log10(2)
    assert table["runs"]["r1"]["minus_ref"]["mean"] == pytest.approx(db / 2)
    assert table["runs"]["r2"]["minus_ref"]["mean"] == pytest.approx(0.0)
    r1 = table["rows"]["r1"]
    assert r1["seeds"] == [0, 1] and r1["mean"] == pytest.approx(db / 2) and r1["spread"] == 0
    # seed-averaged per image: both images gain db/2
    assert r1["seed_averaged"]["low"] == pytest.approx(db / 2)
    c = table["contrasts"]["r1 - r2"]
    assert c["seeds"] == [0, 1] and c["per_seed"][1]["gain"] == 1
    md = seeds.to_markdown(table)
    assert "| r1s1 | 1 |" in md and "r1 - r2, seed by seed" in md
    with pytest.raises(ValueError, match="other images"):
        seeds.seed_table({"r1": files["r1"], "r1s1": {"images": files["r1s1"]["images"][:1]}},
                         driver.parse_run)  # fmt: skip


def test_long_budget_validates_on_a_split_it_never_evaluates(tmp_path):
    opt = driver.train_options("r1", "cpu_long", "/d", "/bb.pth")
    val = opt["datasets"]["val"]
    names = open(val["meta_info_file"]).read().split()
    assert names == [f"img_{i:03d}.png" for i in range(46, 51)]
    assert val["dataroot_gt"] == "/d/benchmark/Urban100_dev"
    assert opt["val"]["baselines"] == ["post"] and opt["val"]["val_freq"] == 200
    assert driver.test_sets("cpu_long")["Urban100_dev"] == 45  # img_001-045
    assert "val" not in driver.train_options("r1", "cpu", "/d", "/bb.pth")["datasets"]
    # the learning curve is read back from the run's validation history
    exp = tmp_path / "exp"
    exp.mkdir()
    d = dict(mean=0.01, low=-0.002, high=0.02, n=5, gain=3, lose=2, tie=0, level=0.95)
    (exp / "metrics_history_Urban100_dev_val.json").write_text(json.dumps([
        {"iter": 200, "clsr/psnr_img": 23.4, "paired": {"image": {"clsr - post": d}}},
        {"iter": 400, "clsr/psnr_img": 23.5, "paired": {"image": {}}}]))  # fmt: skip
    curve = driver.learning_curve(str(exp))
    assert [c["iter"] for c in curve] == [200, 400] and curve[1]["minus_post"] is None
    md = driver.curve_markdown(curve)
    assert "| 200 | 23.4000 | +0.0100 dB [95% CI -0.0020, +0.0200]" in md and "| 400 |" in md
    assert driver.learning_curve(str(tmp_path)) == []
    # an unfinished run on a fresh clone: the curve committed with its training state
    state = tmp_path / "state"
    state.mkdir()
    (exp / "metrics_history_Urban100_dev_val.json").rename(
        state / "metrics_history_Urban100_dev_val.json"
    )
    assert driver.learning_curve(str(exp), str(tmp_path / "none"), str(state)) == curve


def test_long_rows_carry_their_own_baselines_and_reference():
    """At the long budget (other test images than R1's) every seed-0 row evaluates post, and
    the seed table takes it from the first such run when R1 was not run at that budget."""
    args = ("/d", "/bb.pth", "Urban100_dev", 24, "/a.safetensors")
    assert driver.test_options("r14", "cpu_long", *args)["val"]["baselines"]
    assert driver.test_options("r15", "cpu_long", *args)["val"]["baselines"]
    assert not driver.test_options("r14s1", "cpu_long", *args)["val"]["baselines"]
    assert not driver.test_options("r14", "cpu", *args)["val"]["baselines"]

    def rois(methods):
        return {"images": [{"image": "a", "mse": {m: [1.0] for m in methods}}]}

    files = {"r15": rois(["clsr", "post"]), "r14": rois(["clsr", "post"]), "r14s1": rois(["clsr"])}
    assert driver.reference_run(files, "msrresnet") == "r14"
    assert driver.reference_run({"r1": rois(["clsr", "post"]), **files}, "msrresnet") == "r1"
    assert driver.reference_run({"r14s1": rois(["clsr"])}, "msrresnet") is None
    # each budget has its own table: the long one never overwrites the 600-iteration one
    assert driver.table_path("cpu").endswith("docs/results/adapters.json")
    assert driver.table_path("cpu_long").endswith("docs/results/adapters_cpu_long.json")

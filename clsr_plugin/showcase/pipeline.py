"""The demo's steps, in order: data, the backbone trained alone, clsr-adapt around it, the two
benchmarks, then ``results.md`` and the pictures (see :mod:`clsr_plugin.demo`)."""

from __future__ import annotations

import os.path as osp
import time
from dataclasses import dataclass

from clsr_plugin.showcase.benchmarks import Bench, bench_args, heldout_bench, large_bench
from clsr_plugin.showcase.photos import (
    TRAIN_IMAGES,
    VAL_IMAGES,
    parse_size,
    prepare_images,
    prepare_large,
)
from clsr_plugin.showcase.results import RESULTS, keep_results, results_markdown, write_results
from clsr_plugin.showcase.tables import format_table, label
from clsr_plugin.showcase.training import demo_options, train_backbone


@dataclass
class DemoSettings:
    """What ``clsr-demo`` was asked for (see its ``--help``)."""

    out: str
    options: str | None
    iters: int | None
    adapt_iters: int
    roi: int
    max_side: int
    large_size: str
    overwrite: bool
    threads: int


def write_pictures(out: str, model, val_hr: str, roi: int, big: dict, large_name: str) -> None:
    """``comparison.png`` (the first held-out photo) and ``cost_panel.png`` into ``out``."""
    from clsr_plugin.evaluation.cost_panel import write_cost_panel
    from clsr_plugin.showcase.sheet import demo_sheet
    from clsr_plugin.utils.image_io import write_png

    write_png(osp.join(out, "comparison.png"),
              demo_sheet(osp.join(val_hr, f"{VAL_IMAGES[0]}.png"), model, roi, 4))  # fmt: skip
    write_cost_panel(big, large_name, osp.join(out, "cost_panel.png"), lambda m: label(m, big))


def run_demo(s: DemoSettings, bench: Bench) -> int:
    """The demo's steps (see :mod:`clsr_plugin.demo`; ``bench``: clsr-bench's entry point);
    returns 0."""
    from clsr_plugin.adaptation import AdaptSettings, adapt
    from clsr_plugin.inference.api import load_clsr

    out, start = osp.abspath(s.out), time.time()
    backbone_yml, clsr_yml = demo_options(s.options)
    train_hr, val_hr = prepare_images(osp.join(out, "data"), s.max_side)
    large = prepare_large(osp.join(out, "data"), parse_size(s.large_size))
    print(f"[demo] HR photos: {len(TRAIN_IMAGES)} to train in {train_hr}, {len(VAL_IMAGES)} "
          f"held out in {val_hr}; large LR image {large}", flush=True)  # fmt: skip
    weights = train_backbone(out, backbone_yml, train_hr, s.iters, s.threads)
    print("[demo] (b) clsr-adapt: context adapters around the frozen backbone", flush=True)
    settings = AdaptSettings(
        weights=weights,
        data=train_hr,
        out=osp.join(out, "adapt"),
        opt=clsr_yml,
        iters=s.adapt_iters,
        roi=s.roi,
        val_freq=max(1, s.adapt_iters // 5),
        threads=s.threads,
    )
    adapted = adapt(settings)
    common = bench_args(weights, adapted["adapter"], s.roi, s.threads)
    print("[demo] (c) held-out photos, ROI by ROI (clsr-bench)", flush=True)
    held = heldout_bench(bench, out, common, val_hr)
    print("[demo] (d) cost on the large image (clsr-bench --lr-photos)", flush=True)
    big = large_bench(bench, out, common, large)
    stable = format_table(held, times=False)
    text = results_markdown(held, big, adapted, s.roi, osp.basename(large))
    if not keep_results(out, stable, s.overwrite):
        model = load_clsr(weights, adapter=adapted["adapter"])
        write_pictures(out, model, val_hr, s.roi, big, osp.basename(large))
        write_results(out, text, stable)
    print(f"\n[demo] {text}")
    print(f"[demo] comparison sheet: {osp.join(out, 'comparison.png')}; cost panel: "
          f"{osp.join(out, 'cost_panel.png')}; results: {osp.join(out, RESULTS)}")  # fmt: skip
    print(f"[demo] done in {time.time() - start:.0f} s")
    return 0

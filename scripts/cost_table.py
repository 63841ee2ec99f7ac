"""GFLOPs per ROI (2 x MACs, one ROI per image, context work included) of CLSR configurations
next to the paper's SRResNet CLSR (Table 1: 5.08 on BSD100, 10.22 on Manga109), and the cost
and time of every shipped backbone's default CLSR.

    python scripts/cost_table.py                       # MSRResNet 64x16, ROI 24
    python scripts/cost_table.py --sizes 80x120 192x288 --pads 8 4 --patches 256 64
    python scripts/cost_table.py --backbones all --sizes 168x256 --time --threads 2 \
        --json docs/results/cost_backbones.json     # the six backbones' default CLSR

``--backbones`` (shipped test options: srresnet, edsr, carn, rcan, swinir_light, swinir, or
``all``) prints, per backbone and size, GFLOPs per ROI of pre_pad, post and CLSR for 1, 10 and
100 random ROIs (``--counts``), counted on the call as it runs (``Method.run_macs``: CLSR's
shared windows and its PIM only where the ROIs need it; the JSON also keeps
``gflops_roi_by_roi``, the model of ROI-by-ROI decoding with a whole-image context), CLSR's
parts (base
window with its fusions, GCM attention, G, PIM) and with ``--time`` the wall-clock of each part
and of each method for those ROI counts (post: one whole-image pass, no warm-up, shared by
every count; random weights with non-zero fusions: time does not depend on the values; ROIs
at random, seeded; CLSR as clsr-infer runs it, with shared windows).

Sizes are LR (H x W; the table prints W x H): 80x120 is a BSD100 image (481x321 HR), 168x256
the Urban100-size image and 192x288 the Manga109-size page of the cost issue, 413x292 a real
Manga109 page (1170x1654 HR). Counted by ``clsr_plugin.evaluation.macs.clsr_macs``
(mmengine, MACs); nothing is trained or loaded (costs depend on shapes only).
"""

from __future__ import annotations

import argparse
import itertools
import json

import torch

from clsr_plugin.archs.clsr_arch import CLSR
from clsr_plugin.evaluation.macs import clsr_macs, gflops
from clsr_plugin.evaluation.methods import CLSR_METHOD, POST, PRE_PAD, get_method
from clsr_plugin.evaluation.timing import measure
from clsr_plugin.option_files import resolve_options
from clsr_plugin.utils.options import load_yaml

#: the shipped backbones (test options ``test_clsr_<name>_x4.yml``)
BACKBONES = ("srresnet", "edsr", "carn", "rcan", "swinir_light", "swinir")
#: the methods timed for n ROIs
TIMED = (PRE_PAD, POST, CLSR_METHOD)

BACKBONE = dict(type="MSRResNet", num_in_ch=3, num_out_ch=3, num_feat=64, num_block=16, upscale=4)


def size(text: str) -> tuple[int, int]:
    h, w = text.lower().split("x")
    return int(h), int(w)


def default_clsr(name: str) -> CLSR:
    """The CLSR of a shipped backbone's test options, random weights, fusions non-zero."""
    opt = dict(load_yaml(resolve_options(name, "test"))["network_g"])
    opt.pop("type")
    net = CLSR(**opt).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for branch in (net.pim, net.gcm):
            for p in branch.fuse.parameters() if branch is not None else ():
                p.copy_(torch.randn(p.shape, generator=g) * 1e-3)
    return net


def random_rois(h: int, w: int, roi: int, n: int, seed: int = 0) -> torch.Tensor:
    """(n, 4) boxes of ``roi`` x ``roi`` at random inside an h x w image."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, w - roi + 1, (n,), generator=g)
    y = torch.randint(0, h - roi + 1, (n,), generator=g)
    return torch.stack([x, y, torch.full_like(x, roi), torch.full_like(x, roi)], 1)


def backbone_row(name: str, h: int, w: int, roi: int, counts: list[int], timed: bool,
                 repeats: int) -> dict:  # fmt: skip
    """Cost (and time) of one backbone's default CLSR on an h x w LR image."""
    net = default_clsr(name)
    f = clsr_macs(net, (h, w), (roi, roi))
    row = dict(backbone=name, lr_h=h, lr_w=w, roi=roi, roi_pad=net.roi_pad,
               gflops=dict(base=gflops(f["clsr_decode_base"]),
                           attention=gflops(f["clsr_decode_gcm"]),
                           g=gflops(f["clsr_context_gcm"]), pim=gflops(f["clsr_context_pim"])),
               per_roi={})  # fmt: skip
    lq = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(1))
    for n in counts:  # the plan each call takes (shared windows, PIM region), counted as run
        rois = random_rois(h, w, roi, n, seed=n)
        row["per_roi"][n] = {m: dict(gflops=gflops(get_method(m).run_macs(net, lq, rois)) / n,
                                     gflops_roi_by_roi=gflops(get_method(m).macs_per_roi(f, n)))
                             for m in TIMED}  # fmt: skip
    if not timed:
        return row
    cpu = torch.device("cpu")
    one = random_rois(h, w, roi, 1)

    def ms(fn) -> float:
        return measure(fn, cpu, 1, repeats)["ms"]

    with torch.no_grad():
        cache = net.encode_context(lq)
        row["ms"] = dict(pre_pad=ms(lambda: net.base_only(lq, one)),
                         pim=ms(lambda: net.pim.encode(lq, False)) if net.pim else 0.0,
                         g=ms(lambda: net.gcm.encode(lq)) if net.gcm else 0.0,
                         decode=ms(lambda: net.decode(cache, one)))  # fmt: skip
        for n in counts:
            rois = random_rois(h, w, roi, n, seed=n)
            for m in TIMED:
                if m == POST and "post" in row["ms"]:  # one whole-image pass whatever n is
                    t = row["ms"]["post"]
                else:
                    restore = get_method(m).restore
                    t = measure(lambda r=restore, b=rois: r(net, lq, b, 64, True), cpu,
                                int(m != POST), 1 if m == POST else repeats)["ms"]  # fmt: skip
                    row["ms"].setdefault(m, t)
                row["per_roi"][n][m]["ms"] = t / n
    return row


def backbone_table(args) -> list[dict]:
    """Rows of :func:`backbone_row` for every backbone and size, printed as Markdown."""
    names = list(BACKBONES) if args.backbones == ["all"] else args.backbones
    rows = []
    head = " | ".join(f"{m} {n}" for n in args.counts for m in TIMED)
    print("GFLOPs per ROI (/ ms with --time; 'base': the decode of one ROI, attention included)")
    print(f"| backbone | LR W x H | base | attention | G | PIM | {head} |")
    print("|---|---|" + "---:|" * (4 + len(TIMED) * len(args.counts)))
    for name in names:
        for h, w in args.sizes:
            row = backbone_row(name, h, w, args.roi, args.counts, args.time, args.repeats)
            rows.append(row)
            g, t = row["gflops"], row.get("ms", {})

            def cell(key: str, t=t, g=g) -> str:
                timed = {"base": "decode", "g": "g", "pim": "pim"}.get(key)  # attention: in decode
                return f"{g[key]:.2f}" + (f" / {t[timed]:.0f} ms" if t and timed else "")

            cells = [cell(k) for k in ("base", "attention", "g", "pim")]
            for n in args.counts:
                for m in TIMED:
                    c = row["per_roi"][n][m]
                    cells.append(f"{c['gflops']:.2f}" + (f" / {c['ms']:.0f} ms" if "ms" in c
                                                          else ""))  # fmt: skip
            print(f"| {name} | {w}x{h} | " + " | ".join(cells) + " |", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", type=size,
                    default=[(80, 120), (168, 256), (192, 288), (413, 292)])  # fmt: skip
    ap.add_argument("--pads", nargs="+", type=int, default=[8, 4, 2, 0], help="roi_pad values")
    ap.add_argument("--patches", nargs="+", type=int, default=[256, 64, 32],
                    help="GCM num_patches")  # fmt: skip
    ap.add_argument("--pim-ratios", nargs="+", type=float, default=[0.1], help="PIM channel_ratio")
    ap.add_argument("--roi", type=int, default=24)
    ap.add_argument("--json", default=None, help="also write the rows here")
    ap.add_argument(
        "--backbones",
        nargs="+",
        choices=[*BACKBONES, "all"],
        default=None,
        help="the default CLSR of these shipped backbones instead of the sweep",
    )
    ap.add_argument("--counts", nargs="+", type=int, default=[1, 10, 100],
                    help="ROIs per image (--backbones)")  # fmt: skip
    ap.add_argument("--time", action="store_true", help="also time every part (--backbones)")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls, median (--time)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.backbones:
        rows = backbone_table(args)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(dict(threads=torch.get_num_threads(), rows=rows), fh, indent=1)
        return 0
    rows = []
    print("| LR W x H | roi_pad | GCM patches | PIM ratio | pre_pad | CLSR | base | GCM decode "
          "| G | PIM |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (h, w), pad, k, ratio in itertools.product(args.sizes, args.pads, args.patches,
                                                   args.pim_ratios):  # fmt: skip
        net = CLSR(dict(BACKBONE), roi_pad=pad, gcm=dict(num_patches=k),
                   pim=dict(channel_ratio=ratio)).eval()  # fmt: skip
        f = clsr_macs(net, (h, w), (args.roi, args.roi))
        row = dict(lr_h=h, lr_w=w, roi_pad=pad, num_patches=k, pim_ratio=ratio,
                   pre_pad=gflops(get_method(PRE_PAD).macs_per_roi(f)),
                   clsr=gflops(get_method(CLSR_METHOD).macs_per_roi(f)),
                   base=gflops(f["clsr_decode_base"]), gcm_decode=gflops(f["clsr_decode_gcm"]),
                   g=gflops(f["clsr_context_gcm"]), pim=gflops(f["clsr_context_pim"]))  # fmt: skip
        rows.append(row)
        print(f"| {w}x{h} | {pad} | {k} | {ratio} | {row['pre_pad']:.2f} | {row['clsr']:.2f} | "
              f"{row['base']:.2f} | {row['gcm_decode']:.2f} | {row['g']:.2f} | {row['pim']:.2f} |",
              flush=True)  # fmt: skip
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""GFLOPs per ROI (2 x MACs, one ROI per image, context work included) of CLSR configurations
next to the paper's SRResNet CLSR (Table 1: 5.08 on BSD100, 10.22 on Manga109).

    python scripts/cost_table.py                       # MSRResNet 64x16, ROI 24
    python scripts/cost_table.py --sizes 80x120 192x288 --pads 8 4 --patches 256 64

Sizes are LR (H x W; the table prints W x H): 80x120 is a BSD100 image (481x321 HR), 168x256
the Urban100-size image and 192x288 the Manga109-size page of the cost issue, 413x292 a real
Manga109 page (1170x1654 HR). Counted by ``clsr_plugin.evaluation.macs.clsr_macs``
(mmengine, MACs); nothing is trained or loaded (costs depend on shapes only).
"""

from __future__ import annotations

import argparse
import itertools
import json

from clsr_plugin.archs.clsr_arch import CLSR
from clsr_plugin.evaluation.macs import clsr_macs, gflops
from clsr_plugin.evaluation.methods import CLSR_METHOD, PRE_PAD, get_method

BACKBONE = dict(type="MSRResNet", num_in_ch=3, num_out_ch=3, num_feat=64, num_block=16, upscale=4)


def size(text: str) -> tuple[int, int]:
    h, w = text.lower().split("x")
    return int(h), int(w)


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
    args = ap.parse_args(argv)
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

"""Parameter counts of CLSR's base / GCM / PIM branches at the paper's backbone sizes.

Run ``python -m clsr_plugin.archs.param_report`` (optionally ``--channel-ratio``,
``--min-channels``, ``--num-heads``). Builds each model on the CPU (no I/O) and prints a
Markdown table; the GCM count includes its extractor G (head + first stage of the backbone).
"""

from __future__ import annotations

import argparse

from torch import nn

from clsr_plugin.archs.clsr_arch import CLSR

_SWINIR = dict(type="SwinIR", upscale=4, img_size=48, window_size=8, img_range=1.0, mlp_ratio=2)

#: The one table of the paper's backbones (x4) as BasicSR ``network_g`` options, with the
#: pre-cropping GFLOPs (24 x 24 ROI, 2 x MACs) the paper's Table 1 reports for them (None: not
#: in that column). ``python -m clsr_plugin.flops`` checks the GFLOPs, this module counts the
#: parameters of each branch.
PAPER_BACKBONES: dict[str, tuple[dict, float | None]] = {
    "SRResNet": (dict(type="MSRResNet", num_feat=64, num_block=16, upscale=4), 2.93),
    "EDSR": (
        dict(type="EDSR", num_in_ch=3, num_out_ch=3, num_feat=64, num_block=16, upscale=4),
        None,
    ),
    "RCAN": (
        dict(type="RCAN", num_in_ch=3, num_out_ch=3, num_feat=64, num_group=10, num_block=20,
             squeeze_factor=16, upscale=4),
        18.38,
    ),
    "SwinIR": (
        dict(_SWINIR, depths=[6] * 6, embed_dim=180, num_heads=[6] * 6,
             upsampler="pixelshuffle", resi_connection="1conv"),
        15.08,
    ),
    # The paper's lightweight SwinIR: depths/heads/width of SwinIR-light but the classical
    # 'pixelshuffle' upsampler (num_feat 64). With 'pixelshuffledirect' it is 1.24 GFLOPs.
    "SwinIR-light": (
        dict(_SWINIR, depths=[6] * 4, embed_dim=60, num_heads=[6] * 4,
             upsampler="pixelshuffle", resi_connection="1conv"),
        2.11,
    ),
    # The paper's CARN is CARN-M (groups 4), as in ClassSR.
    "CARN": (dict(type="CARN_M", upscale=4), 0.65),
    "CARN (full)": (dict(type="CARN", upscale=4), None),
}  # fmt: skip


def count(module: nn.Module | None) -> int:
    """Number of parameters (0 for None)."""
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def report(pim: dict, gcm: dict) -> list[dict]:
    """One row per paper backbone: parameter counts of each branch."""
    rows = []
    for name, (cfg, _) in PAPER_BACKBONES.items():
        model = CLSR(dict(cfg), pim=pim, gcm=gcm)
        base, g, gcm_all, pim_all = (
            count(model.base),
            count(model.gcm.extractor),
            count(model.gcm),
            count(model.pim),
        )
        rows.append(
            dict(
                name=name,
                stages=model.num_stages,
                base=base,
                gcm=gcm_all,
                g=g,
                pim=pim_all,
                c_slim=model.pim.channels,
                extra=(gcm_all + pim_all) / base,
            )
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channel-ratio", type=float, default=0.1)
    parser.add_argument("--min-channels", type=int, default=8)
    parser.add_argument("--num-heads", type=int, default=4)
    args = parser.parse_args(argv)
    rows = report(
        dict(channel_ratio=args.channel_ratio, min_channels=args.min_channels),
        dict(num_heads=args.num_heads),
    )
    print("| backbone | stages | base | GCM (of which G) | PIM (c') | (GCM+PIM)/base |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['name']} | {r['stages']} | {r['base']:,} | {r['gcm']:,} ({r['g']:,}) | "
            f"{r['pim']:,} ({r['c_slim']}) | {100 * r['extra']:.1f}% |"
        )


if __name__ == "__main__":
    main()

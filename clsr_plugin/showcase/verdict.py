"""What the demo's held-out numbers say, in words: does the CLSR beat post-cropping, and how
did clsr-adapt's learning curve go."""

from __future__ import annotations

from clsr_plugin.evaluation.methods import CLSR_METHOD, POST, PRE_PAD
from clsr_plugin.evaluation.paired import pair_key


def verdict(report: dict, kept_untrained: bool = False) -> str:
    """What the held-out numbers say, in words: does the CLSR beat post-cropping?
    ``kept_untrained``: clsr-adapt kept the untrained adapter (its output is pre_pad's)."""
    res = report["results"][0]
    d = res["paired"]["roi"].get(pair_key(CLSR_METHOD, POST))
    m = res["methods"]
    share = m[PRE_PAD]["gflops_per_roi"] / m[POST]["gflops_per_roi"]
    same = abs(m[PRE_PAD]["psnr_roi_mean"] - m[POST]["psnr_roi_mean"])
    lines = [
        f"Padded pre-cropping costs {share:.1%} of post-cropping's GFLOPs per ROI and is "
        f"{same:.3f} dB from it per ROI."
    ]
    if kept_untrained:
        lines.append("clsr-adapt kept the untrained adapter: no checkpoint beat padded "
                     "pre-cropping on its validation photo with a 95% CI above zero, so the "
                     "CLSR row is padded pre-cropping, and context adds nothing measurable for "
                     "this backbone and data.")  # fmt: skip
    elif d is None:
        lines.append("The CLSR's context branches are untrained: it is padded pre-cropping.")
    elif d["low"] > 0:
        lines.append(f"The context adapters beat post-cropping on these ROIs by {d['mean']:+.3f} "
                     "dB per ROI, with a 95% CI above zero.")  # fmt: skip
    elif d["high"] < 0:
        lines.append(f"The context adapters are worse than post-cropping on these ROIs "
                     f"({d['mean']:+.3f} dB per ROI, 95% CI below zero).")  # fmt: skip
    else:
        lines.append(f"The context adapters add nothing measurable over post-cropping here: "
                     f"{d['mean']:+.3f} dB per ROI, 95% CI [{d['low']:+.3f}, {d['high']:+.3f}] "
                     "includes zero.")  # fmt: skip
    return " ".join(lines)


def curve_line(adapted: dict) -> str:
    """clsr-adapt's learning curve on its validation split, in one sentence (or ``''``)."""
    rows = [r for r in adapted.get("curve", []) if r.get("gain")]
    if not rows:
        return ""
    cells = ", ".join(
        f"{r['iter']}: {r['gain']['mean']:+.3f} [{r['gain']['low']:+.3f}, {r['gain']['high']:+.3f}]"
        for r in rows
    )
    names = ", ".join(adapted.get("val_images", []))
    return (f" clsr-adapt's learning curve on {names} (iteration: CLSR - untrained adapter per "
            f"ROI, dB [95% CI]): {cells}.")  # fmt: skip

"""The ROI restoration methods compared throughout the project, one registry entry each.

A method is its restore function (one image's ROIs -> one HR tensor per ROI), its cost per ROI
(from :func:`clsr_plugin.evaluation.macs.clsr_macs`, with the once-per-image work amortised over
the ROIs that share it) and its labels. Validation (LocalSRModel), clsr-bench, clsr-infer's
sheet, the demo and the adapter driver read it; a new method (a GCM variant, a control) is one
:func:`register_method` call.

* ``pre_nopad`` / ``pre_pad``: the backbone alone on the bare ROI / on its padded window
  (:meth:`CLSR.base_only` with roi_pad 0 / the model's);
* ``post``: the backbone on the whole image (``base_only`` with a whole-image box, so backbones
  that need padding get it), then cropped;
* ``clsr``: :meth:`CLSR.encode_context` once, then :func:`~clsr_plugin.inference.restore.
  decode_rois` (batches of one ROI size, or shared base windows).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from clsr_plugin.inference.restore import (  # noqa: F401  (by_size, Restore re-exported)
    Restore,
    batched,
    by_size,
    decode_rois,
)
from clsr_plugin.inference.tiling import cached_receptive_field, encode_context_for_rois


@dataclass(frozen=True)
class Method:
    """One way of restoring ROIs.

    Attributes:
        name: the key in metrics, JSON and options (``pre_pad``, ...).
        label: the row label of tables and plots.
        short: the column label of comparison sheets.
        restore: see :data:`Restore`.
        image_work: the ``clsr_macs`` key of work done once per image (shared by its ROIs).
        roi_work: the ``clsr_macs`` key of work done per ROI (None: none).
    """

    name: str
    label: str
    short: str
    restore: Restore
    roi_work: str | None = None
    image_work: str | None = None

    def macs_per_roi(self, macs: dict, n_rois: int = 1) -> float:
        """MACs per ROI when ``n_rois`` ROIs of one image share the once-per-image work (the
        one home of the amortisation; ``n_rois=1``: the cost of restoring one region)."""
        if n_rois < 1:
            raise ValueError(f"n_rois must be >= 1, got {n_rois}")
        shared = macs[self.image_work] / n_rois if self.image_work else 0.0
        return (macs[self.roi_work] if self.roi_work else 0.0) + shared

    def run_macs(
        self, net, lq: torch.Tensor, rois: torch.Tensor, roi_batch: int = 64,
        share_windows: bool = True,
    ) -> int:  # fmt: skip
        """MACs of one :attr:`restore` call on these ROIs as it runs, whatever plan it takes
        (shared base windows, the PIM only over the region the ROIs need), counted by
        :func:`~clsr_plugin.evaluation.macs.count_macs`; :meth:`macs_per_roi` is the model of
        ROI-by-ROI decoding with a whole-image context instead.

        Args:
            net: a CLSR in eval mode.
            lq: (1, in, H, W) image.
            rois: (n, 4) boxes ``(x, y, w, h)``.
        """
        from clsr_plugin.evaluation.macs import count_macs

        if net.pim is not None and net.pim.local:
            cached_receptive_field(net.pim)  # its gradient probe cannot run inside the trace
        return count_macs(
            lambda x: tuple(self.restore(net, x, rois, roi_batch, share_windows)), (lq,), owner=net
        )


METHODS: dict[str, Method] = {}

#: the names of the registered methods: consumers import these (and loop over :data:`METHODS`)
#: instead of spelling them
PRE_NOPAD, PRE_PAD, POST, CLSR_METHOD = "pre_nopad", "pre_pad", "post", "clsr"
#: what an untrained CLSR computes exactly (every fusion starts at zero): the padded pre-crop
UNTRAINED_EQUIVALENT = PRE_PAD
#: the method columns of every comparison sheet (after bicubic), in order
SHEET_METHODS = (PRE_PAD, POST, CLSR_METHOD)


def register_method(method: Method) -> Method:
    """Add ``method`` to :data:`METHODS` (names are unique)."""
    if method.name in METHODS:
        raise ValueError(f"Method {method.name!r} is registered already.")
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    """The registered method ``name`` (``ValueError`` lists the known ones)."""
    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}; choose from {tuple(METHODS)}.")
    return METHODS[name]


def _base_only(roi_pad: int | None) -> Restore:
    def restore(net, lq, rois, roi_batch, share_windows):
        return batched(rois, roi_batch, lambda boxes: net.base_only(lq, boxes, roi_pad=roi_pad))

    return restore


def _post(net, lq, rois, roi_batch, share_windows):
    from clsr_plugin.evaluation.roi_crops import crop_rois

    height, width = lq.shape[-2:]
    full = torch.tensor([[0, 0, width, height]], dtype=torch.long, device=lq.device)
    sr = net.base_only(lq, full, roi_pad=0)
    return batched(rois, roi_batch, lambda boxes: crop_rois(sr, boxes, int(net.scale)))


def _clsr(net, lq, rois, roi_batch, share_windows):
    cache = encode_context_for_rois(net, lq, rois)  # == encode_context(lq) where decode reads
    return decode_rois(net, cache, rois, roi_batch, share_windows)


register_method(Method(PRE_NOPAD, "Pre-cropping (no pad)", "pre (no pad)", _base_only(0),
                       roi_work="pre_nopad"))  # fmt: skip
register_method(Method(PRE_PAD, "Pre-cropping (model pad)", "pre", _base_only(None),
                       roi_work="pre_pad"))  # fmt: skip
register_method(Method(POST, "Post-cropping", "post", _post, image_work="post"))
register_method(Method(CLSR_METHOD, "CLSR", "CLSR", _clsr, roi_work="clsr_decode",
                       image_work="clsr_context"))  # fmt: skip

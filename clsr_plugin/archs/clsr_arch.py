"""CLSR: context-based local super-resolution (base branch + GCM + PIM) over BasicSR backbones.

The base branch is the backbone module itself (``self.base``; state-dict keys
``base.<backbone keys>``), run through its adapter on the base window of each ROI (the ROI plus
``roi_pad`` real LR pixels, clamped to the image by shifting; see ``clsr_plugin.archs.roi``) and
cropped back to the ROI. After every stage the PIM adds its cropped context features; after one
stage the GCM adds attention over context patches. Both enter through zero-initialised layers,
so a fresh CLSR returns exactly ``base_only`` (the backbone on the padded window).

Context work (PIM features, GCM keys / values) is done once per image by
:meth:`CLSR.encode_context`; :meth:`CLSR.decode` then serves any number of equally sized ROIs of
that image in one batch. :meth:`CLSR.forward` is the training path: a batch of contexts with
one ROI each.

``context: window`` is the *no-context control*: every ROI's context is cut down to its own
base window (the ROI plus ``roi_pad``), so GCM and PIM keep their parameters and cost shape but
see no pixel the base branch does not already see. It separates what context brings from what
the added parameters bring.
"""

from __future__ import annotations

import copy
import inspect
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from basicsr.utils.registry import ARCH_REGISTRY
from torch import Tensor, nn

from clsr_plugin.archs.adapters import BackboneAdapter, get_adapter
from clsr_plugin.archs.crop import crop_windows
from clsr_plugin.archs.gcm import GCMCache, GlobalContextModule
from clsr_plugin.archs.pim import ProximityIntegrationModule
from clsr_plugin.archs.roi import check_boxes, padded_windows


@dataclass
class ContextCache:
    """Everything CLSR computes once per context image.

    Attributes:
        lq: (B, in, H, W) the contexts.
        pim_features: per-stage PIM features (B, c', H', W'), or None without PIM.
        gcm: GCM keys / values, or None without GCM.
        context_sr: (B, out, s*H, s*W) the PIM's HR context output, or None.
    """

    lq: Tensor
    pim_features: list[Tensor] | None
    gcm: GCMCache | None
    context_sr: Tensor | None

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the contexts."""
        return int(self.lq.shape[-2]), int(self.lq.shape[-1])


def _branch_options(value: dict | bool | None, name: str, allowed: set[str]) -> dict | None:
    """Options of an optional branch: None / True -> defaults, False / enabled: false -> None."""
    if value is None or value is True:
        return {}
    if value is False:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a dict, true/false or null, got {value!r}.")
    opts = dict(value)
    if not opts.pop("enabled", True):
        return None
    unknown = sorted(set(opts) - allowed)
    if unknown:
        raise ValueError(f"Unknown {name} option(s) {unknown}; allowed: {sorted(allowed)}.")
    return opts


_PIM_KEYS = {"channel_ratio", "min_channels"}
#: ``context`` values: the whole given context, or only each ROI's base window (the control)
CONTEXTS = ("image", "window")
_GCM_KEYS = {
    "patch_size",
    "num_patches",
    "num_heads",
    "extractor_stages",
    "stage",
    "down_factor",
    "beta_init",
    "selection",
    "near_patches",
}


def check_roi_pad(value: object, key: str = "roi_pad") -> int:
    """``roi_pad`` as an int: an integer >= 0 (an integral float such as ``4.0`` too).

    Raises:
        ValueError: anything else (``2.5``, ``true``, ``'4'``, ``-1``), naming ``key``.
    """
    integral = isinstance(value, numbers.Integral) or (
        isinstance(value, float) and value.is_integer()
    )
    if isinstance(value, bool) or not integral or value < 0:  # type: ignore[operator]
        raise ValueError(f"{key} must be an integer >= 0 (LR pixels), got {value!r}.")
    return int(value)  # type: ignore[call-overload]


@ARCH_REGISTRY.register()
class CLSR(nn.Module):
    """Context-based local SR around any supported BasicSR backbone.

    Args:
        backbone: backbone config, ``{'type': <T>, ...}`` with the backbone's own constructor
            kwargs, where ``T`` is any type with a registered adapter
            (:data:`clsr_plugin.archs.adapters.ADAPTERS`).
        roi_pad: LR pixels of real context around the ROI fed to the base branch. Default: 4
            (with 64 GCM patches: R1's quality at about half its cost, docs/RESULTS.md).
        pim: PIM options ``{channel_ratio: 0.1, min_channels: 8}``; ``false`` or
            ``{enabled: false}`` disables the PIM. Default: enabled with defaults.
        gcm: GCM options ``{patch_size: 6, num_patches: 64, num_heads: 4,
            extractor_stages: 1, stage: null, down_factor: 2, beta_init: 10,
            selection: strided, near_patches: null}`` (``selection: topk``: per-ROI patches by
            similarity, see ``clsr_plugin.archs.gcm``); ``false`` or
            ``{enabled: false}`` disables the GCM. Default: enabled with defaults.
        context: ``image`` (default): GCM and PIM see the whole given context; ``window``: each
            ROI's context is only its base window (the no-context control, see the module
            docstring).

    Attributes:
        scale: the backbone's upscale factor s.
        num_stages: stages of the base branch (fusion points).
        base: the backbone module (the base branch).
        pim: :class:`ProximityIntegrationModule` or None.
        gcm: :class:`GlobalContextModule` or None.
    """

    def __init__(
        self,
        backbone: dict,
        roi_pad: int = 4,
        pim: dict | bool | None = None,
        gcm: dict | bool | None = None,
        context: str = "image",
    ) -> None:
        super().__init__()
        if context not in CONTEXTS:
            raise ValueError(f"context must be one of {CONTEXTS}, got {context!r}.")
        self.context = context
        if not isinstance(backbone, dict) or "type" not in backbone:
            raise ValueError(f"backbone must be a dict with a 'type' key, got {backbone!r}.")
        cfg = copy.deepcopy(dict(backbone))
        adapter_cls = get_adapter(cfg["type"])
        self.roi_pad = check_roi_pad(roi_pad)
        self.base = adapter_cls.build(cfg)
        self._base: BackboneAdapter = adapter_cls(self.base)
        self.scale = self._base.scale
        self.in_channels = self._base.in_channels
        self.num_stages = stages = self._base.num_stages

        pim_opts = _branch_options(pim, "pim", _PIM_KEYS)
        self.pim = (
            None
            if pim_opts is None
            else ProximityIntegrationModule(adapter_cls, cfg, self._base.width, stages, **pim_opts)
        )
        gcm_opts = _branch_options(gcm, "gcm", _GCM_KEYS)
        self.gcm = (
            None
            if gcm_opts is None
            else GlobalContextModule(adapter_cls, cfg, self.base, stages, **gcm_opts)
        )

    # ---- public API ---------------------------------------------------------------------
    def forward(self, lq: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor | None]:
        """Training / batch path: one ROI per context.

        Args:
            lq: (B, in, H, W) contexts in [0, 1].
            boxes: (B, 4) integer ``(x, y, w, h)``, one per context, all of one size.

        Returns:
            ``(roi_sr, context_sr)``: (B, out, s*h, s*w) and the PIM's (B, out, s*H, s*W) HR
            context, or None when the PIM is disabled or the module is not training.
        """
        self._check_lq(lq)
        boxes = check_boxes(boxes, lq.shape[-2], lq.shape[-1])
        if boxes.shape[0] != lq.shape[0]:
            raise ValueError(
                f"forward takes one ROI per context: {lq.shape[0]} contexts but "
                f"{boxes.shape[0]} boxes; use encode_context/decode for many ROIs per image."
            )
        index = torch.arange(lq.shape[0], device=lq.device)
        if self.context == "window":
            lq, boxes = self._window_contexts(lq, boxes, index)
        cache = self._encode(lq, with_context_sr=self.training)
        return self._decode(cache, boxes, index), cache.context_sr

    def encode_context(
        self,
        lq: Tensor,
        with_context_sr: bool = False,
        pim_features: Callable[[nn.Module, Tensor], list[Tensor]] | None = None,
    ) -> ContextCache:
        """All context work, once per image.

        Args:
            lq: (1, in, H, W) context (B > 1 contexts of one size also work; then ``decode``
                needs ``batch_index``).
            with_context_sr: also run the PIM tail (HR context output).
            pim_features: computes the PIM's per-stage features as ``fn(pim, lq)`` instead of
                one pass (e.g. ``clsr_plugin.inference.tiling``'s tiles); no HR context then.
        """
        self._check_lq(lq)
        if self.context == "window":  # the context work is per ROI window, done in decode
            return ContextCache(lq, None, None, None)
        if pim_features is not None and self.pim is not None:
            gcm = self.gcm.encode(lq) if self.gcm is not None else None
            return ContextCache(lq, pim_features(self.pim, lq), gcm, None)
        return self._encode(lq, with_context_sr)

    def decode(
        self, cache: ContextCache, boxes: Tensor, batch_index: Tensor | None = None
    ) -> Tensor:
        """Super-resolve ROIs of encoded contexts in one batch; equals ``forward`` ROI by ROI.

        Args:
            cache: from :meth:`encode_context`.
            boxes: (n, 4) integer ``(x, y, w, h)``, all of one size.
            batch_index: (n,) context of each box; optional when the cache holds one image.

        Returns:
            (n, out, s*h, s*w).
        """
        h, w = cache.size
        boxes = check_boxes(boxes, h, w)
        index = self._batch_index(cache.lq.shape[0], boxes.shape[0], batch_index, cache.lq)
        if self.context == "window":
            lq, boxes = self._window_contexts(cache.lq, boxes, index)
            index = torch.arange(boxes.shape[0], device=lq.device)
            cache = self._encode(lq, with_context_sr=False)
        return self._decode(cache, boxes, index)

    def decode_windows(
        self, cache: ContextCache, windows: Tensor, boxes: Tensor, batch_index: Tensor | None = None
    ) -> Tensor:
        """Super-resolve ``boxes`` with the base branch run on given ``windows``.

        :meth:`decode` is this with each ROI's own padded window. A larger window shared by
        several ROIs (e.g. the union of their padded windows) serves them all in one pass:
        every ROI pixel then has at least ``roi_pad`` real pixels around it, as in
        :meth:`decode`, so the outputs differ from ROI-by-ROI decoding only through the extra
        real context the shared window holds.

        Args:
            cache: from :meth:`encode_context`.
            windows: (n, 4) integer ``(x, y, w, h)`` inside the contexts, all of one size.
            boxes: (n, 4) the boxes to return, each inside its window, all of one size.
            batch_index: (n,) context of each window; optional when the cache holds one image.

        Returns:
            (n, out, s*h, s*w) for boxes of size (h, w).
        """
        h, w = cache.size
        windows = check_boxes(windows, h, w).to(cache.lq.device)
        boxes = check_boxes(boxes, h, w).to(cache.lq.device)
        if boxes.shape[0] != windows.shape[0]:
            raise ValueError(f"{windows.shape[0]} windows but {boxes.shape[0]} boxes.")
        inside = (boxes[:, :2] >= windows[:, :2]) & (
            boxes[:, :2] + boxes[:, 2:] <= windows[:, :2] + windows[:, 2:]
        )
        if not bool(inside.all()):
            raise ValueError("every box must lie inside its window.")
        index = self._batch_index(cache.lq.shape[0], boxes.shape[0], batch_index, cache.lq)
        if self.context == "window":  # the control: the context is the window itself
            lq, boxes = self._window_contexts(cache.lq, boxes, index, windows)
            windows = windows.clone()
            windows[:, :2] = 0
            index = torch.arange(boxes.shape[0], device=lq.device)
            cache = self._encode(lq, with_context_sr=False)
        return self._decode(cache, boxes, index, windows)

    def context_boxes(self, boxes: Tensor, height: int, width: int) -> Tensor:
        """The part of a ``height x width`` context each ROI's context branches see.

        Args:
            boxes: (n, 4) ROI boxes.

        Returns:
            (n, 4) ``(x, y, w, h)``: the whole image (``context: image``) or the ROI's base
            window (``context: window``); e.g. to crop the HR target of the context loss.
        """
        boxes = check_boxes(boxes, height, width)
        if self.context == "window":
            return padded_windows(boxes, self.roi_pad, height, width).to(boxes.device)
        whole = torch.tensor([0, 0, width, height], dtype=torch.long, device=boxes.device)
        return whole.expand(boxes.shape[0], 4)

    def base_only(self, lq: Tensor, boxes: Tensor, roi_pad: int | None = None) -> Tensor:
        """Pre-cropping baseline: the backbone alone on the padded window, cropped to the ROI.

        Args:
            lq: (1, in, H, W) with n boxes, or (n, in, H, W) with one box each.
            boxes: (n, 4) integer ``(x, y, w, h)``, all of one size.
            roi_pad: context padding (None: ``self.roi_pad``; 0: the bare ROI).

        Returns:
            (n, out, s*h, s*w).
        """
        self._check_lq(lq)
        boxes = check_boxes(boxes, lq.shape[-2], lq.shape[-1])
        if lq.shape[0] not in (1, boxes.shape[0]):
            raise ValueError(
                f"base_only takes 1 context or one per box: got {lq.shape[0]} contexts "
                f"and {boxes.shape[0]} boxes."
            )
        index = self._batch_index(lq.shape[0], boxes.shape[0], None, lq, allow_one_each=True)
        pad = self.roi_pad if roi_pad is None else roi_pad
        return self._run_rois(lq, boxes, index, pad, None)

    # ---- internals ----------------------------------------------------------------------
    def _window_contexts(
        self, lq: Tensor, boxes: Tensor, index: Tensor, windows: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Cut each ROI's base window (``windows``, else its padded box) out of its context.

        Returns the (n, in, wh, ww) crops and the boxes in crop coordinates.
        """
        if windows is None:
            windows = padded_windows(boxes, self.roi_pad, lq.shape[-2], lq.shape[-1])
        windows = windows.to(lq.device)
        ww, wh = int(windows[0, 2]), int(windows[0, 3])
        crops = crop_windows(lq, index, windows[:, 0], windows[:, 1], ww, wh)
        local = boxes.to(lq.device).clone()
        local[:, :2] -= windows[:, :2]
        return crops, local

    def _encode(self, lq: Tensor, with_context_sr: bool) -> ContextCache:
        feats, context_sr = (None, None)
        if self.pim is not None:
            feats, context_sr = self.pim.encode(lq, with_context_sr)
        gcm = self.gcm.encode(lq) if self.gcm is not None else None
        return ContextCache(lq, feats, gcm, context_sr)

    def _decode(
        self, cache: ContextCache, boxes: Tensor, index: Tensor, windows: Tensor | None = None
    ) -> Tensor:
        def make_hook(windows: Tensor) -> Callable[[int, Tensor], Tensor]:
            def hook(i: int, feat: Tensor) -> Tensor:
                if self.pim is not None:
                    feat = self.pim(i, feat, cache.pim_features[i], windows, index)
                if self.gcm is not None and i == self.gcm.stage:
                    feat = self.gcm(feat, cache.gcm, windows, index)
                return feat

            return hook

        return self._run_rois(cache.lq, boxes, index, self.roi_pad, make_hook, windows)

    def _run_rois(
        self,
        lq: Tensor,
        boxes: Tensor,
        index: Tensor,
        roi_pad: int,
        make_hook: Callable[[Tensor], Callable[[int, Tensor], Tensor]] | None,
        windows: Tensor | None = None,
    ) -> Tensor:
        """Crop base windows (``windows``, or the boxes padded by ``roi_pad``), run the base
        branch (with the fusion hook) and its tail on the boxes."""
        if windows is None:
            windows = padded_windows(boxes, roi_pad, lq.shape[-2], lq.shape[-1])
        windows = windows.to(lq.device)
        boxes = boxes.to(lq.device)
        ww, wh = int(windows[0, 2]), int(windows[0, 3])
        x = crop_windows(lq, index, windows[:, 0], windows[:, 1], ww, wh)
        local = boxes.clone()
        local[:, :2] -= windows[:, :2]  # the ROIs in window coordinates
        hook = None if make_hook is None else make_hook(windows)
        return self._base.run(x, hook, boxes=local)

    def _check_lq(self, lq: Tensor) -> None:
        if not isinstance(lq, Tensor) or lq.dim() != 4:
            shape = tuple(lq.shape) if isinstance(lq, Tensor) else type(lq).__name__
            raise ValueError(f"lq must be a (B, C, H, W) tensor, got {shape}.")
        if not lq.is_floating_point():
            raise ValueError(f"lq must be a floating-point tensor in [0, 1], got {lq.dtype}.")
        if lq.shape[1] != self.in_channels:
            raise ValueError(
                f"lq has {lq.shape[1]} channels, the backbone expects {self.in_channels}."
            )
        if min(lq.shape) == 0:
            raise ValueError(f"lq is empty: shape {tuple(lq.shape)}.")
        dtype = self._base.dtype
        if lq.dtype != dtype and not torch.is_autocast_enabled(lq.device.type):
            raise ValueError(f"lq dtype {lq.dtype} does not match the model's dtype {dtype}.")

    @staticmethod
    def _batch_index(
        num_images: int,
        num_boxes: int,
        batch_index: Tensor | None,
        ref: Tensor,
        allow_one_each: bool = False,
    ) -> Tensor:
        """Which context each box belongs to (validated)."""
        if batch_index is None:
            if num_images == 1:
                return torch.zeros(num_boxes, dtype=torch.long, device=ref.device)
            if allow_one_each and num_images == num_boxes:
                return torch.arange(num_boxes, device=ref.device)
            raise ValueError(
                f"The cache holds {num_images} contexts: pass batch_index for the "
                f"{num_boxes} boxes."
            )
        batch_index = torch.as_tensor(batch_index, device=ref.device).long().view(-1)
        if batch_index.numel() != num_boxes:
            raise ValueError(
                f"batch_index has {batch_index.numel()} entries for {num_boxes} boxes."
            )
        if bool(((batch_index < 0) | (batch_index >= num_images)).any()):
            raise ValueError(f"batch_index {batch_index.tolist()} outside [0, {num_images}).")
        return batch_index


#: One-line warning for a CLSR whose context branches are untrained (see :func:`context_untrained`)
UNTRAINED_WARNING = (
    "the CLSR's context branches are untrained (every GCM/PIM fusion weight is zero), so its "
    "output is exactly padded pre-cropping; it is reported as pre-cropping (padded), not CLSR"
)


def context_untrained(net: nn.Module) -> bool:
    """Whether a CLSR's context branches are untrained: every fusion layer of the PIM and the
    GCM is exactly zero (or neither branch exists).

    Such a CLSR returns exactly :meth:`CLSR.base_only` with its ``roi_pad`` (padded
    pre-cropping), e.g. one built from backbone weights only. The one test used by
    ``clsr-infer``, ``clsr-test`` (LocalSRModel validation) and ``clsr-bench``.
    """
    net = getattr(net, "module", net)  # DataParallel / DistributedDataParallel
    fusions = [branch.fuse for branch in (net.pim, net.gcm) if branch is not None]
    return all(not torch.any(p).item() for fuse in fusions for p in fuse.parameters())


def _keyword_names(cls: type) -> tuple[set[str], set[str], bool]:
    """``(accepted, required, any_key)`` keyword arguments of ``cls``'s constructor."""
    accepted, required, any_key = set(), set(), False
    for name, p in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or p.kind == p.VAR_POSITIONAL:
            continue
        if p.kind == p.VAR_KEYWORD:
            any_key = True
        elif p.kind != p.POSITIONAL_ONLY:
            accepted.add(name)
            if p.default is p.empty:
                required.add(name)
    return accepted, required, any_key


def _check_keywords(cls: type, opt: Mapping, where: str) -> None:
    """The keys of ``opt`` (besides ``type``) must be keyword arguments of ``cls``."""
    accepted, required, any_key = _keyword_names(cls)
    given = {k for k in opt if k != "type"}
    unknown = sorted(map(str, given - accepted))
    if unknown and not any_key:
        raise ValueError(
            f"{where}: unknown key(s) {', '.join(unknown)} for {cls.__name__}; valid keys: "
            f"{', '.join(sorted(accepted))}."
        )
    missing = sorted(required - given)
    if missing:
        raise ValueError(f"{where}: {cls.__name__} needs the key(s) {', '.join(missing)}.")


def check_network_opt(net: object, where: str = "network_g") -> None:
    """Check a ``network_g`` mapping against the constructors it names, before building it.

    The one check of network options, used by options validation (``clsr-train``,
    ``clsr-test``), by :func:`clsr_plugin.inference.api.build_clsr` (``clsr-infer``,
    ``clsr-bench``, ``load_clsr``) and by adapter metadata
    (:func:`clsr_plugin.inference.adapter_file.read_adapter`). It checks: a registered ``type``;
    for a backbone type, no CLSR keys (``backbone``, ``roi_pad``, ...: then ``type`` should be
    ``CLSR``) and only its constructor's keys; for ``CLSR``, only CLSR's constructor keys, a
    ``backbone`` with a supported ``type`` and only that backbone's constructor keys, an
    integer ``roi_pad``, a known ``context`` and known ``pim`` / ``gcm`` options.

    Args:
        net: the ``network_g`` value.
        where: how to name it in errors (e.g. ``network_g``, ``<file>: metadata network_g``).

    Raises:
        ValueError: one line naming the key and what is allowed.
    """
    if not isinstance(net, Mapping) or not isinstance(net.get("type"), str):
        raise ValueError(
            f"{where} is missing or has no type (expected `network_g: {{type: CLSR, backbone: "
            "{type: MSRResNet, ...}}` or a BasicSR architecture)"
        )
    kind = net["type"]
    if kind not in ARCH_REGISTRY:
        raise ValueError(
            f"{where}.type: unknown architecture {kind!r} (registered: "
            f"{', '.join(sorted(name for name, _ in ARCH_REGISTRY))})"
        )
    clsr_keys = _keyword_names(CLSR)[0]
    if kind != "CLSR":
        arch = ARCH_REGISTRY.get(kind)
        own = _keyword_names(arch)[0]
        misplaced = sorted(k for k in net if k in clsr_keys and k not in own)
        if misplaced:
            raise ValueError(
                f"{where}.type is {kind!r}, a backbone, but it has CLSR's key(s) "
                f"{', '.join(misplaced)}: set `type: CLSR` and put the backbone under "
                "`backbone:`"
            )
        _check_keywords(arch, net, where)
        return
    _check_keywords(CLSR, net, where)
    backbone = net["backbone"]
    if not isinstance(backbone, Mapping) or not isinstance(backbone.get("type"), str):
        raise ValueError(
            f"{where}.backbone is missing or has no type (expected `backbone: {{type: "
            "MSRResNet, ...}`)"
        )
    try:
        get_adapter(backbone["type"])
    except ValueError as err:
        raise ValueError(f"{where}.backbone.type: {err}") from None
    _check_keywords(ARCH_REGISTRY.get(backbone["type"]), backbone, f"{where}.backbone")
    check_roi_pad(net.get("roi_pad", 0), f"{where}.roi_pad")
    context = net.get("context", "image")
    if context not in CONTEXTS:
        raise ValueError(f"{where}.context must be one of {CONTEXTS}, got {context!r}.")
    _branch_options(net.get("pim"), f"{where}.pim", _PIM_KEYS)
    _branch_options(net.get("gcm"), f"{where}.gcm", _GCM_KEYS)

"""Global context module (GCM, paper section 3.2): ROI queries attend to patches of the context.

Choices the paper leaves open, made here (see ``DESIGN.md``):

* **Patches.** The context is covered by a ceil(H/r) x ceil(W/r) grid of r x r patches; the
  last row / column is shifted inside the image (overlapping its neighbour) rather than padded,
  so no pixel is invented. Only a context smaller than one patch is zero-padded up to r x r.
* **Subsampling.** When the grid has more than ``num_patches`` (N) patches, ``selection``
  decides which N are kept; otherwise all patches are used (both selections then compute the
  same thing). ``strided`` (default): one ``ny x nx`` sub-grid per context (``ny * nx <= N``,
  aspect ratio kept) at evenly spaced rows / columns (``linspace`` rounded), encoded once per
  image. ``topk``: per ROI, the ``near_patches`` nearest patches and the most similar others
  by a fixed pixel descriptor (``clsr_plugin.archs.patch_select``); the image work is only the
  descriptors, and G runs in ``forward`` on the union of the patches a batch of ROIs selects.
  Both are deterministic.
* **Extractor G.** The backbone's head and first ``extractor_stages`` stage(s) at full width,
  a truncated backbone instance whose state-dict keys are the backbone's own; it is initialised
  from the base branch (and re-loaded with it by ``load_backbone_weights``). All N patches go
  through it as one batch (gather, no Python loop).
* **Scale modules.** ``S_down``: zero-initialised strided conv (kernel = stride = factor) plus a
  bilinear residual; ``S_up``: zero-initialised transposed conv plus a bilinear residual; at
  initialisation both equal plain bilinear resampling. Sizes round up (ceil), so 1x1 inputs work.
* **Attention.** Multi-head, ``W_Q, W_K, W_V`` are c x c linear maps initialised to the
  identity (so Q and K start in G's feature space, which at initialisation is the base
  branch's own feature space at the fusion stage). Logits are cosine similarities times a
  learnable per-head temperature ``beta`` (init 10) plus the distance bias
  ``b = -softplus(w_h) * log(1 + d)`` with d the Euclidean distance in real LR pixels between the
  query and key centres (``w_h`` init 0, so softplus = 0.69; it extrapolates to any context
  size, unlike a lookup table). ``alpha`` is the per-head logit of a learnable *null* key whose
  value is a learnable per-head vector (init 0): a scalar added to every logit cancels in the
  softmax, a null slot does not, and it lets a ROI take nothing from the context.
  Written with explicit matmuls so mmengine's FLOP counter sees them.
* **Fusion.** The upsampled result enters the base branch once, after stage ``stage``, through
  a zero-initialised 1x1 conv, so the base branch is unchanged at initialisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clsr_plugin.archs.adapters import BackboneAdapter
from clsr_plugin.archs.patch_select import (
    PatchDescriptor,
    PatchSelector,
    gather_patches,
    patch_starts,
)

#: ``selection`` values: which patches the ROI queries attend to (see the module docstring)
SELECTIONS = ("strided", "topk")
#: the attention's additive mask is built for at most this many entries at a time
#: (``heads x queries x keys`` per ROI; 2^24 float32 = 64 MB), so decode memory is bounded
MASK_ELEMENTS = 2**24


def zero_module(module: nn.Module) -> nn.Module:
    """Set every parameter of ``module`` to zero and return it."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class BilinearDownsample(nn.Module):
    """``S_down(x) + bilinear(x)`` (paper eq. 4), S_down a zero-init strided conv.

    Args:
        channels: C.
        factor: downsampling factor f.

    Shapes: (B, C, H, W) -> (B, C, ceil(H/f), ceil(W/f)).
    """

    def __init__(self, channels: int, factor: int) -> None:
        super().__init__()
        self.factor = factor
        self.conv = zero_module(nn.Conv2d(channels, channels, factor, factor))

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        f = self.factor
        oh, ow = -(-h // f), -(-w // f)
        res = F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False)
        return self.conv(F.pad(x, (0, ow * f - w, 0, oh * f - h))) + res


class BilinearUpsample(nn.Module):
    """``S_up(g) + bilinear(g)`` (paper eq. 5), S_up a zero-init transposed conv.

    Args:
        channels: C.
        factor: upsampling factor f.

    Shapes: (B, C, h, w) -> (B, C, *size) with ``size <= (f*h, f*w)``.
    """

    def __init__(self, channels: int, factor: int) -> None:
        super().__init__()
        self.factor = factor
        self.conv = zero_module(nn.ConvTranspose2d(channels, channels, factor, factor))

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        res = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return self.conv(x)[..., : size[0], : size[1]] + res


def cell_centres(start: Tensor, length: int, cells: int) -> Tensor:
    """Centres (in pixels) of ``cells`` equal cells over ``[start, start + length)``.

    ``start`` (...,) -> (..., cells); the convention of bilinear resampling without corner
    alignment, so query / key coordinates match the downsampled grids.
    """
    u = torch.arange(cells, device=start.device, dtype=torch.float32)
    return start.float()[..., None] + (u + 0.5) * (length / cells) - 0.5


@dataclass
class GCMCache:
    """Per-image context work of the GCM.

    Attributes:
        key: (B, heads, Nk, C/heads) L2-normalised keys.
        value: (B, heads, Nk, C/heads) values.
        key_xy: (Nk, 2) key centres (x, y) in LR pixels.
    """

    key: Tensor
    value: Tensor
    key_xy: Tensor


@dataclass
class GCMSelectCache:
    """Per-image work of ``selection: topk`` when the grid has more than N patches.

    Attributes:
        lq: (B, in, H, W) the contexts (zero-padded up to one patch where smaller).
        origins: (Np, 2) top-left corners (y, x) of every grid patch, row-major.
        descriptors: (B, Np, D) descriptors of every patch.
    """

    lq: Tensor
    origins: Tensor
    descriptors: Tensor


def _rows(x: Tensor, a: int, b: int) -> Tensor:
    """Rows ``a:b`` of a per-ROI tensor, or a batch-1 tensor broadcast to ``b - a`` rows."""
    return x[a:b] if x.shape[0] > 1 else x.expand(b - a, *x.shape[1:])


class GlobalContextModule(nn.Module):
    """Global context module (see the module docstring for every design choice).

    Args:
        adapter_cls: the backbone's adapter class.
        backbone_cfg: the backbone config (``type`` + kwargs) used to build G.
        base: the base branch (G is initialised from its weights).
        num_stages: stages of the base branch (to validate ``stage``).
        patch_size: r. Default: 6.
        num_patches: N, patches kept per context. Default: 64.
        num_heads: attention heads (must divide C). Default: 4.
        extractor_stages: backbone stages in G. Default: 1.
        stage: base stage after which the GCM is fused (None: ``extractor_stages - 1``).
        down_factor: factor of the query and key/value downsamplers. Default: 2.
        beta_init: initial temperature of the cosine similarities. Default: 10.
        selection: ``strided`` (default) or ``topk`` (see the module docstring).
        near_patches: with ``topk``, how many of the N patches are the nearest ones
            (None: N // 4).
    """

    def __init__(
        self,
        adapter_cls: type[BackboneAdapter],
        backbone_cfg: dict,
        base: nn.Module,
        num_stages: int,
        patch_size: int = 6,
        num_patches: int = 64,
        num_heads: int = 4,
        extractor_stages: int = 1,
        stage: int | None = None,
        down_factor: int = 2,
        beta_init: float = 10.0,
        selection: str = "strided",
        near_patches: int | None = None,
    ) -> None:
        super().__init__()
        if selection not in SELECTIONS:
            raise ValueError(f"gcm selection must be one of {SELECTIONS}, got {selection!r}.")
        self.selection = selection
        self.stage = extractor_stages - 1 if stage is None else int(stage)
        if not 0 <= self.stage < num_stages:
            raise ValueError(f"gcm stage={stage} is outside [0, {num_stages - 1}].")
        if not 1 <= extractor_stages <= num_stages:
            raise ValueError(f"gcm extractor_stages={extractor_stages} not in [1, {num_stages}].")
        for name, value in (("patch_size", patch_size), ("num_patches", num_patches)):
            if int(value) < 1:
                raise ValueError(f"gcm {name} must be >= 1, got {value}.")
        if int(down_factor) < 1:
            raise ValueError(f"gcm down_factor must be >= 1, got {down_factor}.")
        self.patch_size = int(patch_size)
        self.num_patches = int(num_patches)
        near = self.num_patches // 4 if near_patches is None else int(near_patches)
        if not 0 <= near <= self.num_patches:
            raise ValueError(
                f"gcm near_patches={near_patches} must be in [0, num_patches={num_patches}]."
            )
        self.near_patches = near
        self.describe = PatchDescriptor(self.patch_size)  # topk only; no parameters
        self.select = PatchSelector(self.num_patches, near)
        self.extractor = adapter_cls.build(backbone_cfg)
        self._extractor = adapter_cls(self.extractor)
        self._extractor.truncate(extractor_stages)
        self.load_extractor_from(base)
        c = self._extractor.width
        if num_heads < 1 or c % num_heads:
            raise ValueError(f"gcm num_heads={num_heads} must divide the backbone width {c}.")
        self.num_heads = int(num_heads)
        self.down_q = BilinearDownsample(c, down_factor)
        self.down_kv = BilinearDownsample(c, down_factor)
        self.to_q, self.to_k, self.to_v = (nn.Linear(c, c) for _ in range(3))
        for lin in (self.to_q, self.to_k, self.to_v):
            nn.init.eye_(lin.weight)
            nn.init.zeros_(lin.bias)
        self.beta = nn.Parameter(torch.full((num_heads,), float(beta_init)))
        self.alpha = nn.Parameter(torch.zeros(num_heads))
        self.null_value = nn.Parameter(torch.zeros(num_heads, c // num_heads))
        self.distance_weight = nn.Parameter(torch.zeros(num_heads))
        self.up = BilinearUpsample(c, down_factor)
        self.fuse = zero_module(nn.Conv2d(c, c, 1))

    def load_extractor_from(self, base: nn.Module) -> None:
        """Copy G's weights (a subset of the backbone's keys) from the base branch."""
        src = base.state_dict()
        self.extractor.load_state_dict({k: src[k] for k in self.extractor.state_dict()})

    # ---- context side (once per image) --------------------------------------------------
    def patch_origins(
        self, height: int, width: int, subsample: bool = True
    ) -> tuple[Tensor, Tensor]:
        """Top-left corners (y, x) of the strided sub-grid (or every patch), (N,) each."""
        r = self.patch_size
        ys, xs = patch_starts(height, r), patch_starts(width, r)
        gh, gw = len(ys), len(xs)
        if subsample and gh * gw > self.num_patches:
            ny = min(gh, max(1, round(math.sqrt(self.num_patches * gh / gw))))
            nx = min(gw, max(1, self.num_patches // ny))
            ny = min(gh, max(1, self.num_patches // nx))
            ys = ys[torch.linspace(0, gh - 1, ny).round().long()]
            xs = xs[torch.linspace(0, gw - 1, nx).round().long()]
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        return grid_y.reshape(-1), grid_x.reshape(-1)

    def encode(self, lq: Tensor) -> GCMCache | GCMSelectCache:
        """Keys and values of a batch of contexts (``topk`` on a large grid: descriptors).

        Args:
            lq: (B, in, H, W) contexts.
        """
        b, _, h, w = lq.shape
        r = self.patch_size
        if self.selection == "topk":
            oy, ox = self.patch_origins(h, w, subsample=False)
            if oy.numel() > self.num_patches:
                return self._encode_descriptors(lq, oy, ox)
        oy, ox = self.patch_origins(h, w)
        if h < r or w < r:
            lq = F.pad(lq, (0, max(0, r - w), 0, max(0, r - h)))
        oy, ox = oy.to(lq.device), ox.to(lq.device)
        n = oy.numel()
        ar = torch.arange(r, device=lq.device)
        rows, cols = oy[:, None] + ar, ox[:, None] + ar  # (N, r)
        patches = lq[:, :, rows[:, :, None], cols[:, None, :]]  # (B, in, N, r, r)
        patches = patches.transpose(1, 2).reshape(b * n, -1, r, r)
        feats = self.down_kv(self._extractor.features(patches))  # (B*N, C, r', r')
        c, rh, rw = feats.shape[1:]
        tokens = feats.flatten(2).transpose(1, 2).reshape(b, n * rh * rw, c)
        key = F.normalize(self._heads(self.to_k(tokens)), dim=-1, eps=1e-6)
        value = self._heads(self.to_v(tokens))
        ky = cell_centres(oy, r, rh)[:, :, None].expand(n, rh, rw)
        kx = cell_centres(ox, r, rw)[:, None, :].expand(n, rh, rw)
        return GCMCache(key, value, torch.stack([kx, ky], -1).reshape(-1, 2))

    def _encode_descriptors(self, lq: Tensor, oy: Tensor, ox: Tensor) -> GCMSelectCache:
        """``topk``'s image work: the descriptor of every grid patch of each context."""
        b, _, h, w = lq.shape
        r, n = self.patch_size, oy.numel()
        lq = F.pad(lq, (0, max(0, r - w), 0, max(0, r - h)))
        batch = torch.arange(b).repeat_interleave(n)
        desc = self.describe(lq, batch, oy.repeat(b), ox.repeat(b)).view(b, n, -1)
        return GCMSelectCache(lq, torch.stack([oy, ox], -1).to(lq.device), desc)

    def _patch_keys(
        self, lq: Tensor, batch: Tensor, oy: Tensor, ox: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Keys, values (P, heads, T, d) and key centres (P, T, 2) of P patches of ``lq``."""
        r = self.patch_size
        feats = self.down_kv(self._extractor.features(gather_patches(lq, batch, oy, ox, r)))
        p, c, rh, rw = feats.shape
        tokens = feats.flatten(2).transpose(1, 2)  # (P, T, C)

        def heads(x: Tensor) -> Tensor:
            return x.view(p, rh * rw, self.num_heads, -1).transpose(1, 2)

        key = F.normalize(heads(self.to_k(tokens)), dim=-1, eps=1e-6)
        value = heads(self.to_v(tokens))
        ky = cell_centres(oy, r, rh)[:, :, None].expand(p, rh, rw)
        kx = cell_centres(ox, r, rw)[:, None, :].expand(p, rh, rw)
        return key, value, torch.stack([kx, ky], -1).reshape(p, rh * rw, 2)

    def _selected_keys(
        self, cache: GCMSelectCache, windows: Tensor, batch_index: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``topk``: keys, values (n, heads, N*T, d) and centres (n, N*T, 2) of each ROI."""
        lq, r = cache.lq, self.patch_size
        height, width = lq.shape[-2:]
        win = windows.to(lq.device).long()
        n, num = win.shape[0], cache.origins.shape[0]
        cy = patch_starts(int(win[0, 3]), r).to(lq.device)
        cx = patch_starts(int(win[0, 2]), r).to(lq.device)
        qy = (win[:, 1, None] + cy).clamp(max=height - r)[:, :, None].expand(-1, -1, len(cx))
        qx = (win[:, 0, None] + cx).clamp(max=width - r)[:, None, :].expand(-1, len(cy), -1)
        cells = qy.shape[1] * qy.shape[2]
        batch_index = batch_index.to(lq.device)
        query = self.describe(
            lq, batch_index.repeat_interleave(cells), qy.reshape(-1), qx.reshape(-1)
        ).view(n, cells, -1)
        oy, ox = cache.origins.unbind(-1)
        patch_xy = torch.stack([ox, oy], -1).float() + (r - 1) / 2
        window_xy = win[:, :2].float() + (win[:, 2:].float() - 1) / 2
        keep = self.select(cache.descriptors, query, batch_index, patch_xy, window_xy)
        ids, inverse = torch.unique(batch_index[:, None] * num + keep, return_inverse=True)
        key, value, xy = self._patch_keys(lq, ids // num, oy[ids % num], ox[ids % num])

        def per_roi(x: Tensor) -> Tensor:  # (U, heads, T, d) -> (n, heads, N*T, d)
            x = x[inverse]
            return x.transpose(1, 2).reshape(n, x.shape[2], -1, x.shape[-1])

        return per_roi(key), per_roi(value), xy[inverse].reshape(n, -1, 2)

    # ---- ROI side -----------------------------------------------------------------------
    def forward(
        self, z: Tensor, cache: GCMCache | GCMSelectCache, windows: Tensor, batch_index: Tensor
    ) -> Tensor:
        """Fuse context into base features.

        Args:
            z: (n, C, h, w) base features of the windows (real pixels top-left).
            cache: :meth:`encode` of the contexts.
            windows: (n, 4) ``(wx, wy, ww, wh)`` window of each ROI in its context.
            batch_index: (n,) context of each ROI.

        Returns:
            (n, C, h, w): ``z + fuse(S_up(attention))``.
        """
        n, _, h, w = z.shape
        q_map = self.down_q(z)
        hq, wq = q_map.shape[-2:]
        query = self._heads(self.to_q(q_map.flatten(2).transpose(1, 2)))
        query = F.normalize(query, dim=-1, eps=1e-6)  # (n, heads, Nq, d)
        if isinstance(cache, GCMSelectCache):
            key, value, k_xy = self._selected_keys(cache, windows, batch_index)
        elif cache.key.shape[0] == 1:  # one context: its keys broadcast over the ROIs
            key, value, k_xy = cache.key, cache.value, cache.key_xy[None]
        else:
            key, value = cache.key[batch_index], cache.value[batch_index]
            k_xy = cache.key_xy[None]
        qy = cell_centres(windows[:, 1].to(z.device), h, hq)[:, :, None].expand(n, hq, wq)
        qx = cell_centres(windows[:, 0].to(z.device), w, wq)[:, None, :].expand(n, hq, wq)
        q_xy = torch.stack([qx, qy], -1).reshape(n, hq * wq, 2)
        g = self.attend(query, key, value, q_xy, k_xy.to(z.device))
        g = g.transpose(1, 2).reshape(n, hq, wq, -1).permute(0, 3, 1, 2)
        return z + self.fuse(self.up(g, (h, w)))

    def attend(
        self, query: Tensor, key: Tensor, value: Tensor, q_xy: Tensor, k_xy: Tensor
    ) -> Tensor:
        """The attention of the module docstring, one fused kernel per chunk of ROIs.

        ``softmax([alpha, beta * q.k - softplus(w) * log(1 + d)]) @ [null_value, v]`` per head:
        the null slot is a zero key whose logit ``alpha`` comes from the additive mask, so
        ``scaled_dot_product_attention`` computes it without materialising the logits. Only
        the mask (the distance bias) is built, for at most :data:`MASK_ELEMENTS` entries at a
        time (ROIs, and the queries of a large window, are processed in chunks), which bounds
        the memory of any decode batch.

        Args:
            query: (n, heads, L, d) normalised queries.
            key, value: (n, heads, S, d) normalised keys (batch 1 broadcasts) and values.
            q_xy: (n, L, 2) query centres; k_xy: (n, S, 2) or (1, S, 2) key centres (LR px).

        Returns:
            (n, heads, L, d).
        """
        n, heads, length, d = query.shape
        query = query * self.beta.view(1, -1, 1, 1).to(query.dtype)  # cosine x beta, scale 1
        slope = -F.softplus(self.distance_weight).view(1, -1, 1, 1)
        kb = key.shape[0]
        key = torch.cat([key.new_zeros(kb, heads, 1, d), key], 2)
        null_value = self.null_value.view(1, heads, 1, d).to(value.dtype)
        value = torch.cat([null_value.expand(kb, -1, -1, -1), value], 2)
        per_query = heads * key.shape[2]  # mask entries per query
        rois = max(1, MASK_ELEMENTS // (length * per_query))  # ROIs per chunk
        queries = length if rois > 1 else max(1, MASK_ELEMENTS // per_query)  # per chunk
        out = []
        for a in range(0, n, rois):
            b = min(n, a + rois)
            k, v, kxy = _rows(key, a, b), _rows(value, a, b), _rows(k_xy, a, b)
            parts = [
                self._attend_chunk(query[a:b, :, q0 : q0 + queries], k, v,
                                   q_xy[a:b, q0 : q0 + queries], kxy, slope)
                for q0 in range(0, length, queries)
            ]  # fmt: skip
            out.append(torch.cat(parts, 2) if len(parts) > 1 else parts[0])
        return torch.cat(out) if len(out) > 1 else out[0]

    def _attend_chunk(
        self, query: Tensor, key: Tensor, value: Tensor, q_xy: Tensor, k_xy: Tensor, slope: Tensor
    ) -> Tensor:
        """:meth:`attend` of one chunk; ``key`` / ``value`` (m, heads, 1 + S, d) start with the
        null slot, ``slope`` (1, heads, 1, 1) is ``-softplus(w)``."""
        m, heads, length, _ = query.shape
        dist = torch.cdist(q_xy, k_xy, compute_mode="donot_use_mm_for_euclid_dist")
        # coordinates and the bias stay float32; the mask takes the features' dtype
        log_d = torch.log1p_(dist)[:, None]  # (m, 1, L, S)
        null = self.alpha.view(1, -1, 1, 1).expand(m, -1, length, 1)
        if torch.is_grad_enabled():
            mask = torch.cat([null, slope * log_d], -1).to(query.dtype)
        else:  # the same values written in place: one pass over the mask, no copies
            mask = query.new_empty(m, heads, length, key.shape[2])
            mask[..., :1] = null
            torch.mul(log_d, slope, out=mask[..., 1:])
        return F.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=1.0)

    def _heads(self, x: Tensor) -> Tensor:
        """(B, L, C) -> (B, heads, L, C/heads)."""
        b, length, c = x.shape
        return x.view(b, length, self.num_heads, c // self.num_heads).transpose(1, 2)

"""GCM patch selection by similarity (``gcm.selection: topk``, after HPINet's global access).

Every r x r patch of the context grid gets a cheap, fixed descriptor: its LR pixels, mean-removed
and contrast-normalised (``x / (|x| + eps * sqrt(D))``, so flat patches keep a small norm and
score low). Each ROI's query is the set of r x r cells covering its base window. Per ROI, the
``near`` patches nearest to the window centre are kept first (the proximity the GCM's distance
bias favours), then the most similar of the rest by the best cosine score over the query cells,
up to ``k`` in all. Ties break by grid index (stable sorts) and the kept indices are returned in
grid order, so selection is deterministic.

:class:`PatchDescriptor` and :class:`PatchSelector` hold no parameters; they are modules so the
FLOP counter reports the selection's cost apart from the attention's (``gcm.describe``,
``gcm.select``).

The descriptors have no parameters and the selection is an index, not differentiated: gradients
reach the GCM through the selected patches' keys and values only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: contrast floor of a descriptor, in units of the per-pixel standard deviation ([0, 1] images)
DESCRIPTOR_EPS = 0.01
#: elements of one ROI-chunk of the (ROIs, query cells, patches) score tensor
_SCORE_CHUNK = 1 << 24


def patch_starts(length: int, size: int) -> Tensor:
    """Starts of ``ceil(length / size)`` cells of ``size`` over ``length``, the last shifted inside.

    (cells,) long; a ``length`` shorter than one cell gives the single start 0.
    """
    return torch.arange(-(-length // size)).mul(size).clamp(max=max(length - size, 0))


def gather_patches(lq: Tensor, batch: Tensor, oy: Tensor, ox: Tensor, size: int) -> Tensor:
    """Cut ``size`` x ``size`` patches: (B, C, H, W), each (P,) -> (P, C, size, size)."""
    ar = torch.arange(size, device=lq.device)
    rows, cols = oy.to(lq.device)[:, None] + ar, ox.to(lq.device)[:, None] + ar
    patches = lq[batch.to(lq.device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return patches.permute(0, 3, 1, 2)


def describe_patches(patches: Tensor) -> Tensor:
    """Descriptors of patches: (..., C, r, r) -> (..., C*r*r), float32."""
    x = patches.float().flatten(-3)
    x = x - x.mean(-1, keepdim=True)
    floor = DESCRIPTOR_EPS * x.shape[-1] ** 0.5
    return x / (x.norm(dim=-1, keepdim=True) + floor)


def select_patches(
    context: Tensor,
    query: Tensor,
    batch_index: Tensor,
    patch_xy: Tensor,
    window_xy: Tensor,
    k: int,
    near: int,
) -> Tensor:
    """The k patches each ROI attends to.

    Args:
        context: (B, Np, D) descriptors of every patch of each context.
        query: (n, Q, D) descriptors of each ROI's window cells.
        batch_index: (n,) context of each ROI.
        patch_xy: (Np, 2) patch centres (x, y).
        window_xy: (n, 2) window centres (x, y).
        k: patches kept per ROI (``<= Np``).
        near: of those, kept by proximity first (``<= k``).

    Returns:
        (n, k) long patch indices, ascending.
    """
    n, num = query.shape[0], context.shape[1]
    if not 0 <= near <= k <= num:
        raise ValueError(f"need 0 <= near ({near}) <= k ({k}) <= patches ({num}).")
    step = max(1, _SCORE_CHUNK // max(1, query.shape[1] * num))
    scores = torch.cat(
        [
            torch.einsum("nqd,npd->nqp", query[i : i + step], context[batch_index[i : i + step]])
            .amax(1)
            for i in range(0, n, step)
        ]
    )  # fmt: skip
    if near:
        dist = torch.cdist(window_xy.float(), patch_xy.float().to(window_xy.device))
        nearest = dist.argsort(dim=1, stable=True)[:, :near]
        scores.scatter_(1, nearest, float("inf"))
    keep = scores.argsort(dim=1, descending=True, stable=True)[:, :k]
    return keep.sort(dim=1).values


class PatchDescriptor(nn.Module):
    """:func:`describe_patches` of the ``size`` x ``size`` patches at given corners.

    Shapes: lq (B, C, H, W), batch / oy / ox (P,) -> (P, C*size*size).
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = int(size)

    def forward(self, lq: Tensor, batch: Tensor, oy: Tensor, ox: Tensor) -> Tensor:
        return describe_patches(gather_patches(lq, batch, oy, ox, self.size))


class PatchSelector(nn.Module):
    """:func:`select_patches` with fixed ``k`` and ``near``; same arguments and result."""

    def __init__(self, k: int, near: int) -> None:
        super().__init__()
        self.k, self.near = int(k), int(near)

    def forward(
        self,
        context: Tensor,
        query: Tensor,
        batch_index: Tensor,
        patch_xy: Tensor,
        window_xy: Tensor,
    ) -> Tensor:
        return select_patches(context, query, batch_index, patch_xy, window_xy, self.k, self.near)

"""LocalSRModel: BasicSR training and ROI-wise validation of CLSR (paper sections 3.5 and 4)."""

from __future__ import annotations

import os.path as osp
from collections import OrderedDict

import torch
from basicsr.archs import build_network
from basicsr.losses import build_loss
from basicsr.models.base_model import BaseModel
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY

from clsr_plugin.archs import load_backbone_weights
from clsr_plugin.evaluation.engine import restore_rois
from clsr_plugin.evaluation.methods import (
    CLSR_METHOD,
)
from clsr_plugin.evaluation.roi_cost import RoiCostCounter
from clsr_plugin.evaluation.roi_crops import crop_rois
from clsr_plugin.evaluation.roi_metrics import check_metric_opts
from clsr_plugin.inference import adapter_file
from clsr_plugin.models import training_state
from clsr_plugin.models.freezing import freeze, lr_groups
from clsr_plugin.models.roi_validation import RoiValidation, val_methods
from clsr_plugin.utils.checkpoint import extract_state_dict, load_checkpoint, unsafe_pickle_opt


@MODEL_REGISTRY.register()
class LocalSRModel(RoiValidation, SRModel):
    """Trains CLSR on (context patch, ROI box) pairs and validates it ROI by ROI.

    Options beyond ``SRModel``'s:

    * ``network_g``: a CLSR network (``encode_context`` / ``decode`` / ``base_only``).
    * ``path.pretrain_network_backbone_g``: a plain BasicSR checkpoint of the backbone, loaded
      into the base branch and GCM's extractor with :func:`clsr_plugin.archs.load_backbone_weights`
      (``param_key_backbone_g``, default ``params_ema`` falling back to ``params``;
      ``strict_load_backbone_g``, default true). ``pretrain_network_g`` (a whole CLSR
      checkpoint), when also given, is loaded after it and wins.
    * ``path.pretrain_network_adapter_g``: an adapter file
      (:mod:`clsr_plugin.inference.adapter_file`) loaded after the backbone; refused when its
      frozen-weights hash does not match the backbone loaded.
    * ``train.freeze``: module-name prefixes of ``network_g`` to freeze, e.g.
      ``[base, gcm.extractor]`` (train only the context adapters around a pretrained
      backbone). Frozen parameters get no gradient, are left out of the optimizer and the EMA,
      their modules stay in eval mode, and every checkpoint also writes the trainable part
      alone as ``net_g_<iter>_adapter.safetensors``.
    * ``train.pixel_opt``: the ROI loss (``L1Loss``) on the ROI crop of ``gt``;
      ``train.context_opt``: :class:`~clsr_plugin.losses.pim_context_loss.PIMContextLoss` on
      the PIM's whole-context output (logged as ``l_context`` with ``lambda_context``).
    * ``train.optim_g.type``: ``Adam``, ``AdamW`` or ``SGD``.
    * ``val.baselines`` (default false): also evaluate pre-cropping (``base_only`` with the
      model's ``roi_pad`` = ``pre_pad``, and with 0 = ``pre_nopad``) and post-cropping
      (``post``: the backbone on the whole LR image, then cropped); or a list of those method
      names, e.g. ``[pre_pad]`` (what the CLSR gives with untrained context branches: cheap
      enough to validate beside it at every checkpoint).
    * ``val.flops`` (default = ``val.baselines``): MACs per ROI of each method
      (:mod:`clsr_plugin.evaluation.roi_cost`).
    * ``val.per_roi`` (default false): also write ``rois_<dataset>.json`` next to the metrics
      JSON: per image its size, ROI boxes and each method's per-ROI MSE and PSNR (for
      breakdowns by ROI position or image).
    * ``val.roi_batch`` (default 64): ROIs decoded per batch; ``val.psnr_cap`` (default 100 dB):
      see :mod:`clsr_plugin.evaluation.roi_metrics`; ``val.sheet_rois`` (default 4): ROIs per
      comparison sheet written with ``save_img`` (the most textured ones, see
      :mod:`clsr_plugin.utils.comparison_sheet`).

    * ``val.metrics``: BasicSR's metric options (``calculate_psnr`` / ``calculate_ssim`` with
      ``crop_border``, ``test_y_channel``, ...), computed ROI by ROI and reported as the mean
      over ROIs beside the fixed protocol, as ``<method>/<metric name>``.

    Validation metrics (:mod:`clsr_plugin.evaluation.roi_metrics`) are named ``<method>/<metric>``
    and go to the log, to tensorboard as ``metrics/<dataset>/<method>/<metric>`` and to
    ``metrics_<dataset>.json``. A CLSR whose context branches are untrained
    (:func:`~clsr_plugin.archs.clsr_arch.context_untrained`) is exactly ``pre_pad``: it is
    reported under that name (no ``clsr`` entries), with one warning line.
    """

    def __init__(self, opt: dict):
        BaseModel.__init__(self, opt)
        self.val_metrics = check_metric_opts((opt.get("val") or {}).get("metrics"))
        val_methods((opt.get("val") or {}).get("baselines", False))  # bad names: before training
        net = build_network(opt["network_g"])
        for attr in ("encode_context", "decode", "base_only", "scale"):
            if not hasattr(net, attr):
                raise ValueError(
                    f"LocalSRModel needs a CLSR network_g (missing {attr!r}); got "
                    f"{opt['network_g'].get('type')!r}."
                )
        if int(net.scale) != int(opt["scale"]):
            raise ValueError(
                f"network_g upscales x{net.scale} but the options say scale {opt['scale']}."
            )
        self.scale = int(net.scale)
        self._load_backbone(net)
        adapter_path = self.opt["path"].get("pretrain_network_adapter_g")
        if adapter_path is not None:
            adapter_file.load_adapter(net, osp.expanduser(adapter_path))
            get_root_logger().info(f"Loaded the adapter {adapter_path}.")
        self.frozen = self._freeze(net) if self.is_train else []
        self.net_g = self.model_to_device(net)
        self.print_network(self.net_g)
        load_path = self.opt["path"].get("pretrain_network_g")
        if load_path is not None:
            param_key = self.opt["path"].get("param_key_g", "params")
            self.load_network(
                self.net_g, load_path, self.opt["path"].get("strict_load_g", True), param_key
            )
        self.cost_counter = RoiCostCounter()
        if self.is_train:
            self.init_training_settings()

    def _load_backbone(self, net: torch.nn.Module) -> None:
        path_opt = self.opt["path"]
        if "pretrain_backbone_g" in path_opt:
            # BasicSR's make_exp_dirs makes a directory of every `path:` entry whose key lacks
            # 'pretrain_network' / 'strict_load' / 'param_key' / 'resume': that key breaks runs.
            raise ValueError(
                "path.pretrain_backbone_g: name it pretrain_network_backbone_g (BasicSR would "
                "otherwise create a directory at that path before training starts)."
            )
        path = path_opt.get("pretrain_network_backbone_g")
        if path is None:
            return
        path = osp.expanduser(path)
        ckpt = load_checkpoint(path, allow_unsafe_pickle=unsafe_pickle_opt(path_opt))
        state = extract_state_dict(ckpt, path_opt.get("param_key_backbone_g", "params_ema"))
        load_backbone_weights(net, state, strict=path_opt.get("strict_load_backbone_g", True))
        get_root_logger().info(f"Loaded backbone weights into the base branch from {path}.")

    def _freeze(self, net: torch.nn.Module) -> list[str]:
        """Apply ``train.freeze`` (before any DDP wrapping); returns the prefixes."""
        prefixes, self._frozen_modules = freeze(net, self.opt["train"].get("freeze"))
        return prefixes

    def _frozen_to_eval(self) -> None:
        """Keep frozen modules in eval mode (BasicSR calls ``net_g.train()`` freely)."""
        for module in getattr(self, "_frozen_modules", ()):
            module.eval()

    # ------------------------------------------------------------------ training
    def init_training_settings(self) -> None:
        super().init_training_settings()
        context_opt = self.opt["train"].get("context_opt")
        self.cri_context = build_loss(context_opt).to(self.device) if context_opt else None

    def setup_optimizers(self) -> None:
        """SRModel's, with one log line for frozen parameters instead of one per tensor, and
        ``train.lr_multipliers`` (module prefix -> factor on ``optim_g.lr``, e.g. ``{base:
        0.01}``: the base branch trained at a hundredth of the rate), each its own parameter
        group, which BasicSR's schedulers scale alike."""
        train_opt = self.opt["train"]
        optim_opt = dict(train_opt["optim_g"])
        optim_type = optim_opt.pop("type")
        groups = lr_groups(self.get_bare_model(self.net_g), train_opt.get("lr_multipliers"),
                           float(optim_opt["lr"]))  # fmt: skip
        self.optimizer_g = self.get_optimizer(optim_type, groups, **optim_opt)
        self.optimizers.append(self.optimizer_g)

    def model_ema(self, decay: float = 0.999) -> None:
        """BasicSR's EMA update, skipping frozen parameters (they stay bit-identical).

        ``decay == 0`` (the initial copy) copies every parameter.
        """
        net_g = self.get_bare_model(self.net_g)
        params = dict(net_g.named_parameters())
        with torch.no_grad():
            for name, ema_param in self.net_g_ema.named_parameters():
                param = params[name]
                if decay == 0:
                    ema_param.copy_(param)
                elif param.requires_grad:
                    ema_param.mul_(decay).add_(param, alpha=1 - decay)

    def save(self, epoch: int, current_iter: int) -> None:
        """BasicSR's checkpoint and state, plus the adapter file when parts are frozen."""
        super().save(epoch, current_iter)
        if not self.frozen or self.opt.get("rank", 0) != 0:
            return
        has_ema = hasattr(self, "net_g_ema")
        net = self.net_g_ema if has_ema else self.get_bare_model(self.net_g)
        label = "latest" if current_iter == -1 else str(current_iter)
        path = osp.join(self.opt["path"]["models"], f"net_g_{label}{adapter_file.SUFFIX}")
        adapter_file.save_adapter(
            path,
            net,
            self.opt["network_g"],
            self.frozen,
            "params_ema" if has_ema else "params",
            current_iter,
        )

    def extra_training_state(self, epoch: int, current_iter: int) -> dict:
        """What every training state adds to BasicSR's: the random state and, at an epoch end,
        the next epoch (:mod:`clsr_plugin.models.training_state`), so resuming is exact."""
        per_epoch = training_state.iters_per_epoch(self.opt)
        epoch, exact = training_state.epoch_to_resume(epoch, current_iter, per_epoch)
        return {"epoch": epoch, "exact_resume": exact, "rng": training_state.rng_state()}

    def resume_training(self, resume_state: dict) -> None:
        """BasicSR's (optimizers, schedulers), plus the random state of the training state."""
        super().resume_training(resume_state)
        if "rng" in resume_state:
            training_state.set_rng_state(resume_state["rng"])
        if not resume_state.get("exact_resume", False):
            get_root_logger().warning(
                f"Resuming from iteration {resume_state['iter']}, saved inside an epoch: "
                "BasicSR starts that epoch again, so this run will differ from an "
                "uninterrupted one (exact resume: datasets.train.samples_per_epoch with "
                "save_checkpoint_freq a multiple of its iterations, num_worker_per_gpu 0)."
            )

    def get_optimizer(self, optim_type: str, params, lr: float, **kwargs) -> torch.optim.Optimizer:
        """``Adam`` | ``AdamW`` | ``SGD`` with the YAML's keyword arguments."""
        optimizers = {"Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW, "SGD": torch.optim.SGD}
        if optim_type not in optimizers:
            raise ValueError(
                f"optim_g type must be one of {sorted(optimizers)}, got {optim_type!r}."
            )
        return optimizers[optim_type](params, lr, **kwargs)

    def feed_data(self, data: dict) -> None:
        """``lq`` contexts, ``gt`` HR contexts, ``roi`` (B, 4) training boxes or ``rois``
        (1, n, 4) validation grid."""
        self.lq = data["lq"].to(self.device)
        if "gt" in data:
            self.gt = data["gt"].to(self.device)
        if "roi" in data:
            self.roi = data["roi"].to(self.device).long()
        if "rois" in data:
            rois = data["rois"]
            self.rois = (rois[0] if rois.dim() == 3 else rois).to(self.device).long()

    def optimize_parameters(self, current_iter: int) -> None:
        self._frozen_to_eval()
        self.optimizer_g.zero_grad()
        roi_sr, context_sr = self.net_g(self.lq, self.roi)
        roi_gt = crop_rois(self.gt, self.roi, self.scale)
        l_total = 0
        loss_dict = OrderedDict()
        if self.cri_pix:
            l_pix = self.cri_pix(roi_sr, roi_gt)
            l_total = l_total + l_pix
            loss_dict["l_pix"] = l_pix
        if self.cri_perceptual:
            l_percep, l_style = self.cri_perceptual(roi_sr, roi_gt)
            for name, value in (("l_percep", l_percep), ("l_style", l_style)):
                if value is not None:
                    l_total = l_total + value
                    loss_dict[name] = value
        if self.cri_context:
            if context_sr is None:
                raise ValueError(
                    "train.context_opt is set but network_g returns no PIM context output "
                    "(PIM disabled?); remove context_opt or enable the PIM."
                )
            bare = self.get_bare_model(self.net_g)
            ctx_gt = self.gt
            if bare.context == "window":  # the PIM saw each ROI's base window only
                boxes = bare.context_boxes(self.roi, self.lq.shape[-2], self.lq.shape[-1])
                ctx_gt = crop_rois(self.gt, boxes, self.scale)
            l_context = self.cri_context(context_sr, ctx_gt, current_iter)
            l_total = l_total + l_context
            loss_dict["l_context"] = l_context
            loss_dict["lambda_context"] = torch.tensor(
                self.cri_context.weight(current_iter), device=self.device
            )
        l_total.backward()
        self.optimizer_g.step()
        self.output = roi_sr.detach()
        self.log_dict = self.reduce_loss_dict(loss_dict)
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    # ------------------------------------------------------------------ inference
    def _eval_net(self) -> torch.nn.Module:
        return self.net_g_ema if hasattr(self, "net_g_ema") else self.get_bare_model(self.net_g)

    @torch.no_grad()
    def restore_rois(
        self,
        lq: torch.Tensor,
        rois: torch.Tensor,
        methods: tuple[str, ...] = (CLSR_METHOD,),
        roi_batch: int = 64,
        net: torch.nn.Module | None = None,
    ) -> dict[str, list[torch.Tensor]]:
        """:func:`~clsr_plugin.evaluation.engine.restore_rois` with this model's network.

        ``net`` defaults to the EMA network if any, else ``net_g`` (it must be in eval mode).
        """
        net = net if net is not None else self._eval_net()
        return restore_rois(net, lq, rois, methods, roi_batch)

    def test(self) -> None:
        """CLSR output for the fed ROIs: ``rois`` of one image, or one ``roi`` per context."""
        net = self._eval_net()
        was_training = net.training
        net.eval()
        with torch.no_grad():
            if getattr(self, "rois", None) is not None and self.lq.shape[0] == 1:
                outs = self.restore_rois(self.lq, self.rois, net=net)[CLSR_METHOD]
                if len({tuple(o.shape) for o in outs}) != 1:
                    raise ValueError("test() needs ROIs of one size; use restore_rois() instead.")
                self.output = torch.stack(outs)
                self._visual_boxes = self.rois
            else:
                self.output = net(self.lq, self.roi)[0]
                self._visual_boxes = self.roi
        net.train(was_training)

    def get_current_visuals(self) -> OrderedDict:
        """``lq``, ``result`` (ROI outputs) and ``gt`` (their HR crops, when ``gt`` was fed)."""
        out = OrderedDict(lq=self.lq.detach().cpu(), result=self.output.detach().cpu())
        if hasattr(self, "gt"):
            out["gt"] = crop_rois(self.gt, self._visual_boxes, self.scale).detach().cpu()
        return out

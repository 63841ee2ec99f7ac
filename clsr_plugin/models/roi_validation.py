"""ROI-wise validation of LocalSRModel (paper section 4): every method asked for on each image's
ROI grid, metrics and paired differences, the metrics JSON and history, the best values, the
comparison sheets. A mixin of :class:`~clsr_plugin.models.localsr_model.LocalSRModel`."""

from __future__ import annotations

import json
import os.path as osp
from collections import OrderedDict

import numpy as np
import torch
from basicsr.utils import get_root_logger, imwrite, tensor2img
from tqdm import tqdm

from clsr_plugin.archs.clsr_arch import UNTRAINED_WARNING, context_untrained
from clsr_plugin.data.bicubic_lr import bicubic_up
from clsr_plugin.evaluation.methods import (
    CLSR_METHOD,
    METHODS,
    SHEET_METHODS,
    UNTRAINED_EQUIVALENT,
)
from clsr_plugin.evaluation.paired import PairedDifference, paired_table
from clsr_plugin.evaluation.roi_cost import AMORTISED, cost_methods
from clsr_plugin.evaluation.roi_crops import crop_rois
from clsr_plugin.evaluation.roi_metrics import PSNR_CAP, RoiMetricAccumulator
from clsr_plugin.models.metrics_files import history_name, metrics_name
from clsr_plugin.utils.atomic import write_text
from clsr_plugin.utils.comparison_sheet import comparison_sheet, textured_rois, tile_psnr


def _sheet_label(column: str) -> str:
    """Column label of the validation sheet: a method's short label, or bicubic / GT."""
    return {"bicubic": "bicubic", "gt": "GT"}.get(column) or METHODS[column].short


def val_methods(baselines: object) -> tuple[str, ...]:
    """The methods a validation evaluates, in registry order, from ``val.baselines``: true:
    every registered method; false / absent: ``clsr``; a list of method names: those and
    ``clsr``.

    Raises:
        ValueError: a name that is not a registered method, or another type (one line).
    """
    if isinstance(baselines, bool) or baselines is None:
        return tuple(METHODS) if baselines else (CLSR_METHOD,)
    names = [baselines] if isinstance(baselines, str) else baselines
    if not isinstance(names, (list, tuple)) or not all(n in METHODS for n in names):
        raise ValueError(
            f"val.baselines must be true, false or a list of {', '.join(METHODS)}; got "
            f"{baselines!r}."
        )
    return tuple(m for m in METHODS if m in names or m == CLSR_METHOD)


class RoiValidation:
    """``nondist_validation`` and its reporting for a BasicSR model holding a CLSR."""

    def nondist_validation(self, dataloader, current_iter, tb_logger, save_img: bool) -> None:
        """ROI-wise validation of one dataset (see the class docstring for the options)."""
        dataset_name = dataloader.dataset.opt["name"]
        val_opt = self.opt["val"]
        methods = val_methods(val_opt.get("baselines", False))
        baselines = methods == tuple(METHODS)
        count_costs = bool(val_opt.get("flops", baselines))
        roi_batch = int(val_opt.get("roi_batch", 64))
        cap = float(val_opt.get("psnr_cap", PSNR_CAP))
        net = self._eval_net()
        untrained = context_untrained(net)
        bare = getattr(net, "module", net)
        if untrained and (bare.pim is not None or bare.gcm is not None):
            # exactly pre_pad: reported under that name, not as CLSR (a CLSR built without
            # either branch, e.g. pim: false, gcm: false, is the backbone alone by design)
            get_root_logger().warning(f"Validation {dataset_name}: {UNTRAINED_WARNING}.")
        cost_rows = cost_methods() if baselines else (CLSR_METHOD, AMORTISED)
        if untrained:
            methods = tuple(m for m in methods if m != CLSR_METHOD) or (UNTRAINED_EQUIVALENT,)
            cost_rows = tuple(m for m in cost_rows if m not in (CLSR_METHOD, AMORTISED))
            cost_rows = cost_rows or (UNTRAINED_EQUIVALENT,)
        accs = {m: RoiMetricAccumulator(cap, self.val_metrics) for m in methods}
        costs = {m: [] for m in cost_rows} if count_costs else {}
        have_gt = False
        per_roi = [] if val_opt.get("per_roi", False) else None
        was_training = net.training
        net.eval()
        pbar = tqdm(total=len(dataloader), unit="image") if val_opt.get("pbar", False) else None
        for val_data in dataloader:
            img_name = osp.splitext(osp.basename(val_data["lq_path"][0]))[0]
            lq = val_data["lq"].to(self.device)
            rois = val_data["rois"][0].long()
            outs = self.restore_rois(lq, rois, methods, roi_batch, net=net)
            srs = {m: [tensor2img(t.detach().cpu()) for t in outs[m]] for m in methods}
            gts = None
            if "gt" in val_data:
                have_gt = True
                gt = val_data["gt"]
                gts = [tensor2img(crop_rois(gt, b[None], self.scale)[0]) for b in rois]
                for m in methods:
                    accs[m].add_image(srs[m], gts)
                if per_roi is not None:
                    n = len(gts)
                    per_roi.append(
                        dict(
                            image=img_name,
                            lq_hw=list(lq.shape[-2:]),
                            rois=rois.tolist(),
                            mse={m: accs[m].roi_mse[-n:] for m in methods},
                            psnr={m: accs[m].roi_psnr[-n:] for m in methods},
                        )
                    )
            if count_costs:
                with torch.no_grad():
                    image_costs = self.cost_counter.image_costs(net, lq, rois.to(self.device))
                for m in costs:
                    costs[m].extend(image_costs[m])
            if save_img:
                self._save_sheet(
                    val_data, lq, rois, srs, gts, img_name, dataset_name, current_iter, val_opt
                )
            if pbar is not None:
                pbar.update(1)
                pbar.set_description(f"Test {img_name}")
        if pbar is not None:
            pbar.close()
        net.train(was_training)

        results = OrderedDict()
        if have_gt:
            for m in methods:
                for key, value in accs[m].results().items():
                    results[f"{m}/{key}"] = value
        for m, values in costs.items():
            macs = float(np.mean(values))
            results[f"{m}/gmacs"] = macs / 1e9
            results[f"{m}/gflops"] = 2 * macs / 1e9
        self.metric_results = results
        self.paired_results = (
            {
                "image": paired_table({m: accs[m].img_psnr for m in methods}),
                "roi": paired_table({m: accs[m].roi_psnr for m in methods}),
            }
            if have_gt
            else {}
        )
        self.context_untrained = untrained
        self._record_best(dataset_name, current_iter)
        self._log_roi_metrics(dataset_name, current_iter, tb_logger, cap)
        if per_roi is not None:
            self._write_json(
                f"rois_{dataset_name}.json",
                dict(dataset=dataset_name, iter=current_iter, images=per_roi),
            )
        self._write_metrics_json(dataset_name, current_iter)

    def _write_metrics_json(self, dataset_name: str, current_iter) -> str | None:
        """Write ``metrics_<dataset>.json`` (the latest values, plus the iteration).

        Tests write it into ``results/<name>/``, training into ``experiments/<name>/``; nothing
        is written when the options have no such folder (a model built outside the pipelines).
        """
        payload = {"dataset": dataset_name, "iter": current_iter,
                   "context_untrained": bool(getattr(self, "context_untrained", False)),
                   **self.metric_results,
                   "paired": getattr(self, "paired_results", {})}  # fmt: skip
        if self.opt["is_train"] and isinstance(current_iter, int):
            self._append_history(dataset_name, payload)
        return self._write_json(metrics_name(dataset_name), payload)

    def _append_history(self, dataset_name: str, payload: dict) -> None:
        """Training: keep every validation in ``metrics_history_<dataset>.json`` (a list by
        iteration; a resumed run replaces the entries at or after its iteration), so the best
        checkpoint and the learning curve can be read back. BasicSR validates once more after
        its loop, at ``total_iter + 1`` with the weights of ``total_iter``: that entry is kept
        as ``total_iter``."""
        root = self.opt["path"].get("experiments_root")
        if not root:
            return
        total = (self.opt.get("train") or {}).get("total_iter")
        if total and payload["iter"] > total:
            payload = dict(payload, iter=int(total))
        path = osp.join(root, history_name(dataset_name))
        history = []
        if osp.isfile(path):
            with open(path) as f:
                history = [h for h in json.load(f) if h["iter"] < payload["iter"]]
        self._write_json(osp.basename(path), history + [payload])

    def _write_json(self, name: str, payload: dict) -> str | None:
        """Write ``payload`` atomically into the experiment (train) or results (test) folder."""
        root = self.opt["path"].get("experiments_root" if self.opt["is_train"] else "results_root")
        if not root:
            return None
        path = osp.join(root, name)
        write_text(path, json.dumps(payload, indent=2))
        return path

    def _record_best(self, dataset_name: str, current_iter) -> None:
        if not hasattr(self, "best_metric_results"):
            self.best_metric_results = {}
        record = self.best_metric_results.setdefault(dataset_name, {})
        for name, value in self.metric_results.items():
            metric = name.split("/")[-1]
            if metric in ("psnr_roi", "ssim_roi", "psnr_img", "ssim_img") + tuple(self.val_metrics):
                better = self.val_metrics.get(metric, {}).get("better", "higher")
                init = float("-inf") if better == "higher" else float("inf")
                record.setdefault(name, dict(better=better, val=init, iter=-1))
                self._update_best_metric_result(dataset_name, name, value, current_iter)

    def _log_roi_metrics(self, dataset_name: str, current_iter, tb_logger, cap: float) -> None:
        res = self.metric_results
        methods = list(OrderedDict.fromkeys(k.split("/")[0] for k in res))
        lines = [f"Validation {dataset_name} (ROI-wise, RGB, no border crop)"]
        for name, opt in self.val_metrics.items():
            lines.append(
                f"\t val.metrics {name}: {opt['type']}, crop_border {opt.get('crop_border', 0)}, "
                f"{'Y channel' if opt.get('test_y_channel') else 'RGB'}; mean over ROIs"
            )
        n_rois = next((res[f"{m}/n_rois"] for m in methods if f"{m}/n_rois" in res), None)
        if n_rois is not None:
            lines.append(
                f"\t ROIs: {int(n_rois)}; per-ROI PSNR capped at {cap:g} dB for "
                + ", ".join(
                    f"{m}: {int(res[f'{m}/n_inf_psnr'])}"
                    for m in methods
                    if f"{m}/n_inf_psnr" in res
                )
                + " exact (infinite-PSNR) ROIs"
            )
        cols = [("psnr_roi", "{:.4f}"), ("ssim_roi", "{:.4f}"), ("psnr_img", "{:.4f}")]
        cols += [("ssim_img", "{:.4f}")] + [(name, "{:.4f}") for name in self.val_metrics]
        cols += [("gmacs", "{:.3f}"), ("gflops", "{:.3f}")]
        lines.append("\t {:<15}".format("method") + "".join(f"{c:>11}" for c, _ in cols))
        for m in methods:
            cells = [fmt.format(res[f"{m}/{c}"]) if f"{m}/{c}" in res else "-" for c, fmt in cols]
            lines.append(f"\t {m:<15}" + "".join(f"{c:>11}" for c in cells))
        best = (
            self.best_metric_results.get(dataset_name, {}) if isinstance(current_iter, int) else {}
        )
        for unit, table in getattr(self, "paired_results", {}).items():
            for pair, d in table.items():
                diff = PairedDifference.from_dict(d).format(items=f"{unit}s", nd=4)
                lines.append(f"\t {pair} (PSNR per {unit}): {diff}")
        for name in (f"{CLSR_METHOD}/psnr_roi", f"{CLSR_METHOD}/psnr_img"):
            if name in best:
                lines.append(f"\t Best {name}: {best[name]['val']:.4f} @ {best[name]['iter']} iter")
        get_root_logger().info("\n".join(lines))
        if tb_logger and isinstance(current_iter, int):
            for name, value in res.items():
                tb_logger.add_scalar(f"metrics/{dataset_name}/{name}", value, current_iter)

    def _save_sheet(
        self, val_data, lq, rois, srs, gts, img_name, dataset_name, current_iter, val_opt
    ):
        """Comparison sheet: the image with numbered boxes on the ``val.sheet_rois`` most
        textured ROIs (of the LR), then per ROI bicubic | pre | post | CLSR | GT with PSNR."""
        n_show = min(int(val_opt.get("sheet_rois", 4)), len(rois))
        lq_img = tensor2img(lq[0].detach().cpu())
        boxes = rois.tolist()
        picks = textured_rois(lq_img, boxes, n_show)
        bicubic = bicubic_up(lq, self.scale)
        columns = ["bicubic"] + [m for m in SHEET_METHODS if m in srs]
        columns += ["gt"] if gts is not None else []
        rows, psnrs = [], []
        for i in picks:
            tiles = {"bicubic": tensor2img(crop_rois(bicubic.cpu(), rois[[i]], self.scale)[0])}
            tiles.update({m: srs[m][i] for m in srs})
            if gts is not None:
                tiles["gt"] = gts[i]
            rows.append([tiles[c] for c in columns])
            psnrs.append(
                [None if gts is None or c == "gt" else tile_psnr(tiles[c], gts[i]) for c in columns]
            )
        if not rows:
            return
        if "gt" in val_data:  # the HR image, boxes in HR pixels; else the LR input
            overview, s = tensor2img(val_data["gt"][0]), self.scale
        else:
            overview, s = lq_img, 1
        sheet = comparison_sheet(
            rows,
            [_sheet_label(c) for c in columns],
            overview=overview,
            boxes=[[v * s for v in boxes[i]] for i in picks],
            psnrs=psnrs,
            title=f"{img_name} (x{self.scale}; PSNR vs GT, RGB)" if gts is not None else img_name,
        )
        if self.opt["is_train"]:
            path = osp.join(
                self.opt["path"]["visualization"], img_name, f"{img_name}_{current_iter}.png"
            )
        else:
            suffix = val_opt.get("suffix") or self.opt["name"]
            path = osp.join(
                self.opt["path"]["visualization"], dataset_name, f"{img_name}_{suffix}.png"
            )
        imwrite(sheet, path)

"""Evaluation: one home for how ROIs are restored, costed, timed and scored.

* :mod:`~clsr_plugin.evaluation.methods`: the registry of methods (pre_nopad, pre_pad, post,
  clsr), each with its restore function, cost per ROI (the one amortisation) and labels;
* :mod:`~clsr_plugin.evaluation.engine`: the restore engine (batches of one ROI size, CLSR's
  shared base windows);
* :mod:`~clsr_plugin.evaluation.roi_metrics`, :mod:`~.roi_crops`, :mod:`~.roi_cost`: ROI-wise
  PSNR/SSIM, HR crops, validation's MACs per ROI;
* :mod:`~clsr_plugin.evaluation.timing`: the one timing / peak-memory harness;
* :mod:`~clsr_plugin.evaluation.benchmark` and :mod:`~.report`: clsr-bench's parts and its
  Markdown report.

Read by LocalSRModel validation, clsr-bench, clsr-infer, the demo and the adapter driver.
"""

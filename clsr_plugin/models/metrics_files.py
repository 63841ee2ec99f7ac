"""Names of the metrics files a LocalSR validation writes: the one home of the names that the
writer (:mod:`~clsr_plugin.models.roi_validation`), the run state, clsr-adapt and the adapter
driver read them by."""

from __future__ import annotations

#: prefix of a training run's validation history: a JSON list, one entry per validation
HISTORY = "metrics_history_"


def metrics_name(dataset: str) -> str:
    """``metrics_<dataset>.json``: the latest validation (train) or the test's metrics."""
    return f"metrics_{dataset}.json"


def history_name(dataset: str) -> str:
    """``metrics_history_<dataset>.json``: every validation of a training run, by iteration."""
    return f"{HISTORY}{dataset}.json"


def is_history(name: str) -> bool:
    """Whether the file name ``name`` is a validation history (:func:`history_name`)."""
    return name.startswith(HISTORY) and name.endswith(".json")

"""clsr-bench's PSNR-vs-GFLOPs plot."""

import builtins

import pytest

from clsr_plugin.evaluation import tradeoff_plot

REPORT = dict(
    config=dict(scale=4, roi_pad=4),
    results=[
        dict(dataset="Set5", roi=24, methods={
            "pre_nopad": dict(psnr_roi_mean=27.0, gflops_per_roi=0.12),
            "pre_pad": dict(psnr_roi_mean=27.2, gflops_per_roi=0.22),
            "post": dict(psnr_roi_mean=27.4, gflops_per_roi=2.6),
            "clsr": dict(psnr_roi_mean=27.5, gflops_per_roi=0.37),
        }),
    ],
)  # fmt: skip


def test_figure_has_a_log_x_axis_and_one_point_per_method():
    pytest.importorskip("matplotlib")
    fig = tradeoff_plot.tradeoff_figure(REPORT)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and "GFLOPs" in ax.get_xlabel()
    assert len(ax.collections) == 4
    assert sorted(t.get_text() for t in ax.texts) == ["clsr", "post", "pre_nopad", "pre_pad"]


def test_plot_file_is_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "bench.png"
    assert tradeoff_plot.write_tradeoff_plot(REPORT, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_matplotlib_one_warning_and_no_file(tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_mpl(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mpl)
    path = tmp_path / "bench.png"
    assert not tradeoff_plot.write_tradeoff_plot(REPORT, str(path))
    assert not path.exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "matplotlib" in err


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    def half_then_crash(self, fname, **kwargs):
        with open(fname, "wb") as f:
            f.write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        tradeoff_plot.write_tradeoff_plot(REPORT, str(tmp_path / "bench.png"))
    assert list(tmp_path.iterdir()) == []

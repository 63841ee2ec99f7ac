"""``clsr-train`` / ``clsr-test``: BasicSR's own pipelines behind a documented command line.

BasicSR 1.4.2's ``parse_options`` builds a bare parser (no description, several flags without
help). :func:`build_parser` mirrors its flags with help, a description of what the plugin adds
and an example; :func:`main` parses with it (``--help`` and errors stay ours), resolves
``-opt`` (a path or a shipped name, :mod:`clsr_plugin.option_files`) and hands BasicSR the
same command line with the resolved path, so ``basicsr.train.train_pipeline`` /
``basicsr.test.test_pipeline`` run unchanged.

Quiet by default (:func:`quiet_console`): BasicSR's banner, options dump and network printout
go to the run's log file only, once; the console shows progress and results. ``--verbose``
keeps BasicSR's console output.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from collections.abc import Sequence

#: the flags of BasicSR 1.4.2's ``parse_options`` (mirrored by :func:`build_parser`)
BASICSR_FLAGS = ("-opt", "--launcher", "--auto_resume", "--debug", "--local_rank", "--force_yml")

_WHAT = {
    "train": (
        "clsr-train",
        "Train a BasicSR model (CLSR, or any BasicSR model) with BasicSR's own training "
        "pipeline\n(basicsr.train.train_pipeline). Experiments land in ./experiments/<name>, "
        "tensorboard logs in\n./tb_logger of the current directory.",
        "clsr-train --opt srresnet --auto_resume\n"
        "  clsr-train -opt options/clsr_rcan_x4.yml --force_yml train:total_iter=1000\n"
        "  torchrun --standalone --nproc_per_node=2 -m clsr_plugin.train --opt srresnet "
        "--launcher pytorch",
    ),
    "test": (
        "clsr-test",
        "Test a BasicSR model with BasicSR's own test pipeline (basicsr.test.test_pipeline); "
        "a\nLocalSRModel validates ROI by ROI against pre/post-cropping. Results land in "
        "./results/<name>\n(metrics_<dataset>.json, the log, comparison sheets with "
        "val.save_img).",
        "clsr-test --opt srresnet\n"
        "  clsr-test -opt options/test_clsr_rcan_x4.yml "
        "--force_yml path:pretrain_network_g=net_g_latest.pth",
    ),
}


def build_parser(kind: str) -> argparse.ArgumentParser:
    """The documented parser of ``clsr-train`` (``kind='train'``) or ``clsr-test``."""
    from clsr_plugin.option_files import available

    prog, what, example = _WHAT[kind]
    names = ", ".join(available(kind))
    description = (
        f"{what}\n\n"
        "What the plugin adds to BasicSR's flags:\n"
        "  -opt / --opt   a path, or a shipped options name (srresnet, ...: see -opt below),\n"
        "                 or options/<file>.yml from any directory\n"
        "  --verbose      BasicSR's banner, options dump and network printout also on the "
        "console\n"
        "                 (default: once, in the run's log file only)\n"
        "  and, without flags: the plugin's types registered (CLSR, CARN, LocalSRModel, ...),\n"
        "  --auto_resume and --launcher pytorch (gloo) on CPU, weights-only checkpoint loading,\n"
        "  atomic checkpoint writes (README: 'Compatibility layer and autoload')."
    )
    ap = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("-opt", "--opt", dest="opt", required=True, metavar="OPT",
                    help=f"options YAML: a path, or a shipped name ({names})")  # fmt: skip
    ap.add_argument("--launcher", choices=["none", "pytorch", "slurm"], default="none",
                    help="job launcher: none (one process, default), pytorch (torchrun; gloo "
                         "on CPU, nccl on GPUs) or slurm")  # fmt: skip
    ap.add_argument("--auto_resume", action="store_true",
                    help="resume from the run's latest training state, if any")  # fmt: skip
    ap.add_argument("--debug", action="store_true",
                    help="BasicSR's debug mode: the run is named debug_<name>")  # fmt: skip
    ap.add_argument("--local_rank", type=int, default=0,
                    help="process rank, set by older launchers (default 0)")  # fmt: skip
    ap.add_argument("--force_yml", nargs="+", default=None, metavar="KEY=VALUE",
                    help="override options, e.g. train:ema_decay=0.999 "
                         "datasets:val:dataroot_gt=path (existing keys only)")  # fmt: skip
    ap.add_argument("--verbose", action="store_true",
                    help="BasicSR's banner, options and network on the console too")  # fmt: skip
    return ap


def basicsr_argv(argv: Sequence[str], opt_path: str) -> list[str]:
    """``argv`` as BasicSR's parser takes it: ``-opt <opt_path>`` first, ``--verbose`` dropped."""
    out, skip = ["-opt", opt_path], False
    for token in argv:
        if skip:
            skip = False
        elif token in ("-opt", "--opt"):
            skip = True
        elif not token.startswith(("-opt=", "--opt=")) and token != "--verbose":
            out.append(token)
    return out


class _FileOnly(str):
    """A log message for the log file only (see :func:`quiet_console`)."""


class _ConsoleFilter(logging.Filter):
    """Drops file-only messages from a console handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not isinstance(record.msg, _FileOnly)


def _quiet_handlers(logger: logging.Logger) -> None:
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            continue
        if not any(isinstance(f, _ConsoleFilter) for f in handler.filters):
            handler.addFilter(_ConsoleFilter())


def quiet_console() -> None:
    """Send BasicSR's banner, options dump and network printout to the log file only.

    Wraps ``get_env_info`` / ``dict2str`` as ``basicsr.train`` and ``basicsr.test`` call them
    and ``BaseModel.print_network`` so their messages are marked, and filters marked messages
    out of the ``basicsr`` logger's console handlers (the log file keeps them). The network's
    one-line summary (class and parameter count) stays on the console.
    """
    from basicsr import test as basicsr_test
    from basicsr import train as basicsr_train
    from basicsr.models.base_model import BaseModel
    from basicsr.utils import get_root_logger

    def file_only(func):
        if getattr(func, "_clsr_file_only", False):
            return func

        @functools.wraps(func)
        def wrapped(*args, **kwargs):
            logger = logging.getLogger("basicsr")
            _quiet_handlers(logger)
            return _FileOnly(func(*args, **kwargs))

        wrapped._clsr_file_only = True
        return wrapped

    def point_to_log_file(func):
        if getattr(func, "_clsr_points", False):
            return func

        @functools.wraps(func)
        def wrapped(*args, **kwargs):
            logger = logging.getLogger("basicsr")
            files = [h.baseFilename for h in logger.handlers if isinstance(h, logging.FileHandler)]
            if files:
                logger.info(f"BasicSR's environment, options and network: in {files[0]}")
            return func(*args, **kwargs)

        wrapped._clsr_points = True
        return wrapped

    for module in (basicsr_train, basicsr_test):
        module.get_env_info = point_to_log_file(file_only(module.get_env_info))
        module.dict2str = file_only(module.dict2str)

    def print_network(self, net) -> None:
        """``BaseModel.print_network``: the summary line on the console, the network to the
        log file only."""
        cls = type(net).__name__
        bare = self.get_bare_model(net)
        if bare is not net:
            cls = f"{cls} - {type(bare).__name__}"
        logger = get_root_logger()
        _quiet_handlers(logger)
        n_params = sum(p.numel() for p in bare.parameters())
        logger.info(f"Network: {cls}, with parameters: {n_params:,d}")
        logger.info(_FileOnly(str(bare)))

    BaseModel.print_network = print_network


def main(kind: str, argv: Sequence[str] | None = None) -> int:
    """Run BasicSR's ``kind`` pipeline (``train`` / ``test``) rooted at the current directory.

    Returns:
        0; 2 (one line on stderr) for bad input (options file not found, bad options, a bad
        checkpoint or image: :mod:`clsr_plugin.utils.cli`); 1 for an OS failure.
    """
    from clsr_plugin.option_files import resolve_options
    from clsr_plugin.utils.cli import run_cli

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(kind)
    args = parser.parse_args(argv)
    try:
        opt_path = resolve_options(args.opt, kind)
    except ValueError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    if not args.verbose:
        quiet_console()
    sys.argv = [sys.argv[0], *basicsr_argv(argv, opt_path)]
    if kind == "train":
        from basicsr.train import train_pipeline as pipeline
    else:
        from basicsr.test import test_pipeline as pipeline

    def run() -> None:
        try:
            pipeline(os.getcwd())
        finally:
            _close_process_group()

    return run_cli(parser.prog, run)


def _close_process_group() -> None:
    """Destroy torch.distributed's process group if the pipeline made one: left to the
    interpreter's exit, gloo's threads can abort a rank after a finished run
    ("terminate called without an active exception")."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()

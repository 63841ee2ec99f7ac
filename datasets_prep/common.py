"""Shared plumbing of the preparation tools: the package's image listing, reading and atomic
writing (:mod:`clsr_plugin.utils.image_io`, :mod:`clsr_plugin.utils.image_checks`) with
:class:`PrepError`, output-folder bookkeeping, parallel map with a progress bar, and the CLI
error convention."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import os.path as osp
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from multiprocessing import Pool
from typing import Any, ParamSpec, TypeVar

import cv2
import numpy as np
from tqdm import tqdm

from clsr_plugin.utils import cli, image_checks, image_io
from clsr_plugin.utils.atomic import write_text

MARKER = ".datasets_prep.json"
TMP_PREFIX = ".prep-tmp-"

_P = ParamSpec("_P")
_R = TypeVar("_R")


class PrepError(ValueError):
    """Bad input for a preparation step; the message names the offending file or value."""


def prep_errors(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """``func`` (one of the package's readers) with its ``ValueError`` raised as
    :class:`PrepError`, the message unchanged."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return func(*args, **kwargs)
        except PrepError:
            raise
        except ValueError as err:
            raise PrepError(str(err)) from None

    return wrapper


#: :func:`clsr_plugin.utils.image_io.image_names`; the tools pass ``strict=True``.
image_names = prep_errors(image_io.image_names)
#: :func:`clsr_plugin.utils.image_checks.image_hw` (from the header).
image_hw = prep_errors(image_checks.image_hw)
#: :func:`clsr_plugin.utils.image_checks.check_image_complete`.
check_complete = prep_errors(image_checks.check_image_complete)
_read_image = prep_errors(image_io.read_image)
_write_image = prep_errors(image_io.write_image)


def temp_name(path: str) -> str:
    """The hidden temporary sibling a tool writes ``path`` through (removed on a re-run)."""
    return osp.join(osp.dirname(path), f"{TMP_PREFIX}{os.getpid()}-{osp.basename(path)}")


def load_bgr(path: str) -> tuple[np.ndarray, str | None]:
    """Read an 8-bit image as a BGR ``uint8`` array of shape (h, w, 3).

    Reads with :func:`clsr_plugin.utils.image_io.read_image`: grayscale images are replicated
    to three channels and an alpha channel is dropped; the second return value says so (or is
    None).

    Raises:
        PrepError: the file is truncated or cannot be decoded, or is not 8-bit.
    """
    img = _read_image(path)
    if img.bit_depth != 8:
        raise PrepError(f"only 8-bit images are supported, got {img.rgb.dtype}: {path}")
    note = None
    if any(c.startswith("grayscale") for c in img.conversions):
        note = f"{osp.basename(path)} is grayscale: written as 3-channel (gray replicated)"
    elif any(c.startswith("RGBA") for c in img.conversions):
        note = f"{osp.basename(path)} has an alpha channel: dropped"
    return np.ascontiguousarray(img.rgb[:, :, ::-1]), note


def write_image_atomic(path: str, img: np.ndarray, compress_level: int = 3) -> None:
    """:func:`clsr_plugin.utils.image_io.write_image` through a hidden temporary name
    (:func:`temp_name`), so an interrupted run never leaves a truncated file under the final
    name and a re-run removes the leftover."""
    _write_image(path, img, compress_level, temp_name(path))


def differing_record(marker: str, expected: dict[str, Any]) -> dict[str, Any] | None:
    """The record in the JSON file ``marker`` (what a step wrote when it ran) if it differs
    from ``expected``; None if it is the same."""
    with open(marker) as f:
        old = json.load(f)
    return None if old == expected else old


def prepare_output_dir(folder: str, params: dict[str, Any]) -> None:
    """Create ``folder`` for a step, or check that an existing one belongs to the same step.

    A hidden marker file records the step's parameters. Re-running with the same parameters
    resumes (finished files are kept); different parameters, or a non-empty folder without a
    marker (not made by this package), are refused rather than mixed or overwritten.
    Leftover temporary files of an interrupted run (this package's own) are removed.
    """
    marker = osp.join(folder, MARKER)
    if osp.isdir(folder):
        if osp.isfile(marker):
            old = differing_record(marker, params)
            if old is not None:
                raise PrepError(
                    f"output folder {folder} was made with different settings {old}, "
                    f"this run asks {params}: choose another output folder"
                )
            for name in os.listdir(folder):
                if name.startswith(TMP_PREFIX):
                    os.remove(osp.join(folder, name))
            return
        if any(not n.startswith(".") for n in os.listdir(folder)):
            raise PrepError(
                f"output folder {folder} is not empty and was not made by datasets_prep: "
                "refusing to write into it"
            )
    os.makedirs(folder, exist_ok=True)
    write_text(marker, json.dumps(params, indent=1, sort_keys=True), temp_name(marker))


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # cv2 is single-threaded already: see run_parallel


@contextlib.contextmanager
def _cv2_single_threaded() -> Iterator[None]:
    """OpenCV's thread pool does not survive ``fork``: a worker forked while the parent's pool
    has threads hangs in its first pooled call (or in ``cv2.setNumThreads``). So the pool is
    wound down to one thread in the parent for as long as workers may be forked."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


def run_parallel(
    func: Callable[[Any], Any], items: Sequence[Any], workers: int, desc: str
) -> list[Any]:
    """``[func(x) for x in items]`` over a process pool with a tqdm bar (order not kept).

    ``workers <= 1`` runs in this process. The first exception stops the run; what was
    already written stays (each file is written atomically), so a re-run resumes.
    """
    results = []
    with tqdm(total=len(items), unit="img", desc=desc, file=sys.stderr) as bar:
        if workers <= 1 or len(items) <= 1:
            for item in items:
                results.append(func(item))
                bar.update(1)
        else:
            with (
                _cv2_single_threaded(),
                Pool(min(workers, len(items)), initializer=_init_worker) as pool,
            ):
                for res in pool.imap_unordered(func, items):
                    results.append(res)
                    bar.update(1)
    return results


def report_notes(notes: Iterable[str | None]) -> None:
    """Print the per-image notes (grayscale or alpha conversions) that workers returned."""
    for note in sorted(n for n in notes if n):
        print(f"note: {note}")


def default_workers() -> int:
    """Half the CPU cores (at least 1): image steps are CPU-bound and the machine is shared."""
    return max(1, (os.cpu_count() or 2) // 2)


def tool_parser(tool: str, description: str) -> argparse.ArgumentParser:
    """The (empty) parser of ``python -m datasets_prep.<tool>``."""
    return argparse.ArgumentParser(prog=f"python -m datasets_prep.{tool}", description=description)


def tool_main(
    build_parser: Callable[[], argparse.ArgumentParser],
    body: Callable[[argparse.Namespace], int],
) -> Callable[[list[str] | None], int]:
    """A tool's entry point ``main(argv=None)``: ``argv`` (default: the command line) parsed
    by ``build_parser()``, then ``body`` run on the result through :func:`run_cli`."""

    def main(argv: list[str] | None = None) -> int:
        """Entry point of the tool (``python -m datasets_prep.<tool>``)."""
        return run_cli(body, build_parser().parse_args(argv))

    return main


def add_scale_arg(parser: argparse.ArgumentParser) -> None:
    """Add the shared ``--scale`` option (default 4; checked by :func:`check_scale`)."""
    parser.add_argument("--scale", type=int, default=4, help="2, 3, 4 or 8 (default 4)")


def add_compress_arg(
    parser: argparse.ArgumentParser, default: int = 3, text: str = "PNG compression 0-9"
) -> None:
    """Add ``--compress-level``, the PNG compression level of the files a tool writes."""
    parser.add_argument("--compress-level", type=int, default=default, help=text)


def add_workers_arg(parser: argparse.ArgumentParser) -> None:
    """Add the shared ``--workers`` option."""
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="worker processes (default: half the CPU cores; 1 = no pool)",
    )


def add_writer_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--compress-level`` (default 3) and ``--workers``: the options of a tool that
    writes images (:func:`writer_kwargs` reads them)."""
    add_compress_arg(parser)
    add_workers_arg(parser)


def writer_kwargs(args: argparse.Namespace) -> dict[str, int]:
    """``workers`` and ``compress_level`` as parsed (the options of :func:`add_workers_arg`
    and :func:`add_compress_arg`)."""
    return {"workers": args.workers, "compress_level": args.compress_level}


def run_cli(body: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a tool's body; a :class:`PrepError` becomes one ``error:`` line and exit code 2
    (:func:`clsr_plugin.utils.cli.run_cli`, the message as raised)."""
    return cli.run_cli(None, lambda: body(args), bad_input=(PrepError,), failures=(), message=str)


def check_scale(scale: int) -> int:
    """Validate an SR scale factor."""
    if scale not in (2, 3, 4, 8):
        raise PrepError(f"scale must be 2, 3, 4 or 8, got {scale}")
    return scale

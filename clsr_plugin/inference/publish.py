"""All-or-nothing output: a run writes into a hidden temporary folder next to ``--out``, which
is published into ``--out`` only when every file is there.

* :func:`check_out`: ``--out`` is a folder (or missing) and holds none of the run's files
  unless ``overwrite`` (checked before the run and again just before publishing);
* :func:`staging_folder`: the temporary folder ``.<out>.tmp-<pid>-*``, removed afterwards;
  those of killed runs (pid gone) are removed first;
* :func:`publish`: a missing ``--out`` is the temporary folder renamed (one atomic step); into
  an existing one the files are moved one by one and, after any failure, moved back.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence

from clsr_plugin.inference.out_layout import RESULTS_JSON
from clsr_plugin.utils.atomic import pid_alive, umask_mode
from clsr_plugin.utils.cli import InputError


def check_out(out: str, files: Sequence[str], overwrite: bool) -> None:
    """``out`` must be a folder (or not exist) and hold none of ``files`` (relative paths)
    unless ``overwrite``; no file may replace a folder."""
    if os.path.lexists(out) and not os.path.isdir(out):
        raise InputError(f"--out {out!r} exists and is not a folder")
    if not os.path.isdir(out):
        return
    for rel in files:
        target = os.path.join(out, rel)
        if os.path.isdir(target) and not os.path.islink(target):
            raise InputError(f"{target!r} is a folder: it cannot be replaced by a result file")
    if overwrite:
        return
    ordered = sorted(files, key=lambda rel: rel != RESULTS_JSON)  # name results.json first
    existing = [rel for rel in ordered if os.path.lexists(os.path.join(out, rel))]
    if existing:
        raise InputError(
            f"--out {out!r} already holds results ({', '.join(existing[:3])}"
            f"{', ...' if len(existing) > 3 else ''}): pass --overwrite to replace them, or "
            "choose another --out"
        )


def _tmp_prefix(out: str) -> str:
    return f".{os.path.basename(out)}.tmp-"


def remove_stale_tmp(out: str) -> None:
    """Remove hidden temporary folders of ``out`` that killed runs left (their pid is gone)."""
    parent, prefix = os.path.dirname(out), _tmp_prefix(out)
    pattern = re.compile(re.escape(prefix) + r"(\d+)-")
    with contextlib.suppress(OSError):
        for entry in os.scandir(parent):
            match = pattern.match(entry.name)
            if match and entry.is_dir(follow_symlinks=False):
                if not pid_alive(int(match.group(1))):
                    shutil.rmtree(entry.path, ignore_errors=True)


@contextlib.contextmanager
def staging_folder(out: str) -> Iterator[str]:
    """Context manager yielding a new hidden temporary folder next to ``out`` (an absolute
    path), removed with whatever is left in it on exit; stale ones are removed first."""
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    remove_stale_tmp(out)
    tmp = tempfile.mkdtemp(prefix=f"{_tmp_prefix(out)}{os.getpid()}-", dir=parent)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _make_dirs(folder: str, made: list[str]) -> None:
    """``os.makedirs`` that records every folder it creates (outermost first)."""
    if os.path.isdir(folder):
        return
    _make_dirs(os.path.dirname(folder), made)
    os.mkdir(folder)
    made.append(folder)


def publish(src: str, out: str, files: Sequence[str]) -> None:
    """Move ``files`` (relative paths, in this order) from ``src`` into ``out``, all or nothing.

    A missing ``out`` is ``src`` renamed (one atomic step). Into an existing folder, each file
    replaces its namesake (kept aside in ``src`` until the end); on any failure every moved
    file goes back, replaced files are restored and created folders removed, so ``out`` is
    exactly as it was.
    """
    if not os.path.lexists(out):
        os.chmod(src, umask_mode(directory=True))
        os.rename(src, out)
        return
    aside = os.path.join(src, ".replaced")
    made: list[str] = []
    done: list[tuple[str, str | None]] = []  # (target, where its old file was put aside)
    try:
        for rel in files:
            new, target = os.path.join(src, rel), os.path.join(out, rel)
            _make_dirs(os.path.dirname(target), made)
            old = None
            if os.path.lexists(target):
                old = os.path.join(aside, rel)
                os.makedirs(os.path.dirname(old), exist_ok=True)
                os.replace(target, old)
            try:
                os.replace(new, target)
            except BaseException:
                if old is not None:
                    os.replace(old, target)
                raise
            done.append((target, old))
    except BaseException:
        for target, old in reversed(done):
            with contextlib.suppress(OSError):
                if old is not None:
                    os.replace(old, target)
                else:
                    os.remove(target)
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        raise

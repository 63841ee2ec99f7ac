"""The one way the plugin writes a file: a temporary sibling, then an atomic rename.

:func:`atomic_path` yields ``<path>.tmp<pid>`` to write to and renames it over ``path`` only
when the write finished, with the mode a plain ``open`` would have given (the umask's, not
the 0600 of ``mkstemp`` or safetensors); on any failure the temporary file is removed and
``path`` is untouched. :func:`remove_stale_temps` removes what a killed process left (its pid
is in the name, so files of running processes are kept).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator

_STALE = re.compile(r"\.tmp(\d+)$")


def umask_mode(directory: bool = False) -> int:
    """The mode ``open`` (0o666) or ``mkdir`` (0o777) gives under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def temp_name(path: str | os.PathLike) -> str:
    """``<path>.tmp<pid>``: the temporary sibling :func:`atomic_path` writes."""
    return f"{os.fspath(path)}.tmp{os.getpid()}"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, tmp: str | None = None) -> Iterator[str]:
    """Context manager yielding a temporary path; on success it replaces ``path`` atomically.

    Args:
        path: the final file.
        tmp: the temporary name (default :func:`temp_name`; must be in the same folder).
    """
    path = os.fspath(path)
    tmp = tmp or temp_name(path)
    try:
        yield tmp
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)


def write_bytes(path: str | os.PathLike, data: bytes, tmp: str | None = None) -> None:
    """Write ``data`` to ``path`` atomically (``tmp``: as for :func:`atomic_path`)."""
    with atomic_path(path, tmp) as tmp_path, open(tmp_path, "wb") as f:
        f.write(data)


def write_text(path: str | os.PathLike, text: str, tmp: str | None = None) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (``tmp``: as for :func:`atomic_path`)."""
    write_bytes(path, text.encode("utf-8"), tmp)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (on this machine)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike) -> list[str]:
    """Remove ``*.tmp<pid>`` files of :func:`atomic_path` whose process is gone.

    Returns:
        The removed paths.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _STALE.search(entry.name)
        if match and entry.is_file(follow_symlinks=False) and not pid_alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                os.remove(entry.path)
                removed.append(entry.path)
    return removed

"""The options YAMLs shipped with the plugin, found by path or by short name.

The repository keeps them in ``options/`` (BasicSR's layout: ``clsr-train -opt
options/clsr_rcan_x4.yml`` from the checkout); the wheel ships the same files as
``clsr_plugin/options/``, so an installed package finds them from any directory.
:func:`resolve_options` is the one lookup every command uses (``clsr-train``, ``clsr-test``,
``clsr-infer``, ``clsr-bench``, ``clsr-demo``, :func:`clsr_plugin.inference.load_clsr`):

* an existing file is used as it is;
* else a path inside the shipped folder (``options/demo/clsr_demo_x4.yml`` or
  ``demo/clsr_demo_x4.yml``), so the README's commands also work outside the checkout;
* else a short name: ``srresnet`` is ``clsr_srresnet_x4.yml`` for training and
  ``test_clsr_srresnet_x4.yml`` for testing; ``demo``, ``msrresnet_adapters`` and every file's
  stem (``clsr_rcan_x4``) work too.
"""

from __future__ import annotations

import os
from pathlib import Path

#: what a command needs: a training file, a test file, or either (network_g only; test first)
KINDS = ("train", "test", "any")


def options_root() -> Path:
    """The shipped options folder: ``clsr_plugin/options`` of an installed package, else the
    checkout's ``options/`` next to the package."""
    package = Path(__file__).resolve().parent
    installed = package / "options"
    return installed if installed.is_dir() else package.parent / "options"


def _index() -> dict[str, str]:
    """File name -> path relative to :func:`options_root` (top level first)."""
    root = options_root()
    files = sorted(root.rglob("*.yml"), key=lambda p: (len(p.relative_to(root).parts), str(p)))
    index: dict[str, str] = {}
    for path in files:
        index.setdefault(path.name, path.relative_to(root).as_posix())
    return index


def short_name(file_name: str) -> str:
    """``test_clsr_srresnet_x4.yml`` -> ``srresnet`` (the name :func:`resolve_options` takes)."""
    stem = Path(file_name).stem
    return stem.removeprefix("test_").removeprefix("clsr_").removesuffix("_x4")


def is_test_file(file_name: str) -> bool:
    """Whether a shipped file is a test (``clsr-test``) options file."""
    return Path(file_name).name.startswith("test_")


def available(kind: str = "any") -> list[str]:
    """Short names of the shipped options files of ``kind`` (sorted)."""
    return sorted({short_name(n) for n in _index() if _fits(n, kind)})


def _fits(file_name: str, kind: str) -> bool:
    return kind == "any" or is_test_file(file_name) == (kind == "test")


def _candidates(name: str, kind: str) -> list[str]:
    base = [name, f"{name}.yml"]
    test = [f"test_{name}.yml", f"test_clsr_{name}_x4.yml"]
    train = [f"clsr_{name}_x4.yml"]
    if kind == "train":
        return base + train
    if kind == "test":
        return base + test
    return base + test + train


def resolve_options(name: str | os.PathLike, kind: str = "any") -> str:
    """The options file meant by ``name``: a path, a path inside the shipped folder, or a
    short name (see the module docstring).

    Args:
        name: e.g. ``srresnet``, ``options/test_clsr_srresnet_x4.yml``, ``my/opt.yml``.
        kind: ``train`` (``clsr-train``), ``test`` (``clsr-test``) or ``any`` (a file with
            ``network_g``: ``clsr-infer``, ``clsr-bench``; test files first).

    Returns:
        The path of an existing file.

    Raises:
        ValueError: one line naming ``name`` and the available short names.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    text = os.fspath(name)
    if os.path.isfile(text):
        return text
    root = options_root()
    rel = Path(text)
    if rel.parts and rel.parts[0] == "options":
        rel = Path(*rel.parts[1:]) if len(rel.parts) > 1 else Path()
    if not rel.is_absolute() and rel.parts and (root / rel).is_file():
        return str(root / rel)
    index = _index()
    if os.sep not in text and "/" not in text:
        for candidate in _candidates(text, kind):
            if candidate in index:
                return str(root / index[candidate])
    what = "" if kind == "any" else f"{kind} "
    raise ValueError(
        f"Options file not found: {text!r} (no such file, nor a shipped {what}options name: "
        f"{', '.join(available(kind))})"
    )

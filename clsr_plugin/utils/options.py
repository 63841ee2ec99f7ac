"""The one way the plugin reads options YAML: plain data only, BasicSR's ordered mappings.

BasicSR 1.4.2's ``ordered_yaml()`` returns PyYAML's full ``Loader``, which builds arbitrary
Python objects, so an options file holding ``!!python/object/apply:os.system [...]`` runs code
when it is parsed. :class:`OptionsLoader` is a ``SafeLoader`` that keeps what BasicSR relies on
(mappings as ``OrderedDict``, ``!!float 1e-4``, ``~``, booleans) and refuses every other tag with
:class:`OptionsError` naming the file and line. :mod:`clsr_plugin.compat` installs it as
BasicSR's ``ordered_yaml`` loader, so train, test, ``basicsr/train.py`` and the plugin's own
readers (``clsr-infer``, ``clsr-bench``) all parse options the same way.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

import yaml


class OptionsError(ValueError):
    """Bad options (a file, a key or a value); the message is one line naming it."""


def _where(mark: Any) -> str:
    if mark is None:
        return "<options>"
    return f"{mark.name}:{mark.line + 1}"


class OptionsLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with mappings as ``OrderedDict`` (as BasicSR's loader builds them)."""

    def construct_undefined(self, node: yaml.Node) -> Any:  # type: ignore[override]
        """Any tag SafeLoader does not know (``!!python/...``, ``!custom``) is an error."""
        tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
        raise OptionsError(
            f"{_where(node.start_mark)}: YAML tag {tag} is not allowed in options "
            "(only plain YAML data: mappings, lists, strings, numbers, booleans, ~, !!float)"
        )


def _construct_ordered_mapping(loader: OptionsLoader, node: yaml.MappingNode) -> OrderedDict:
    loader.flatten_mapping(node)
    return OrderedDict(loader.construct_pairs(node))


OptionsLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_ordered_mapping
)
OptionsLoader.add_constructor(None, OptionsLoader.construct_undefined)


def load_yaml(path: str | os.PathLike) -> Any:
    """Parse an options file with :class:`OptionsLoader`.

    Raises:
        OptionsError: a missing or unreadable file, invalid YAML or a disallowed tag, in one
            line naming the file (and the line, where YAML reports one).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise OptionsError(f"Options file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.load(f, Loader=OptionsLoader)  # noqa: S506 (OptionsLoader is safe)
    except OSError as err:
        raise OptionsError(f"Cannot read options file {path}: {err.strerror}") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise OptionsError(f"{_where(mark)}: invalid YAML: {err.problem or err}") from None
    except yaml.YAMLError as err:
        raise OptionsError(f"{path}: invalid YAML: {' '.join(str(err).split())}") from None
    except UnicodeDecodeError as err:
        raise OptionsError(f"{path}: not a UTF-8 text file ({err.reason})") from None


def dump_yaml(opt: Any) -> str:
    """Options as YAML text that :func:`load_yaml` reads back (mappings, ordered or not, are
    written as plain YAML mappings in their order)."""

    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return yaml.safe_dump(plain(opt), sort_keys=False)

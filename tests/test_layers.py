"""The package's layers: no import circle, nothing imports what stands above it.

Every ``import`` of the package's sources is read (module level and inside functions). A module
may import its own layer or lower ones (:data:`LAYERS`, bottom first) and no circle may form.
The package's ``__init__`` (which registers everything) counts as the top layer; importing any
submodule runs it anyway, so only an explicit ``import clsr_plugin`` is an edge to it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "clsr_plugin"

#: bottom first: (layer name, module prefixes); a module belongs to its longest prefix
LAYERS = [
    ("utils", ["clsr_plugin.utils", "clsr_plugin.version", "clsr_plugin.option_files"]),
    ("archs, data, losses", ["clsr_plugin.archs", "clsr_plugin.data", "clsr_plugin.losses"]),
    ("inference", ["clsr_plugin.inference"]),
    ("evaluation", ["clsr_plugin.evaluation"]),
    ("models and jobs", ["clsr_plugin.models", "clsr_plugin.adaptation",
                         "clsr_plugin.option_checks", "clsr_plugin.showcase"]),
    ("CLIs and the package", ["clsr_plugin.compat", "clsr_plugin.basicsr_cli", "clsr_plugin.infer",
                              "clsr_plugin.bench", "clsr_plugin.demo", "clsr_plugin.adapt",
                              "clsr_plugin.train", "clsr_plugin.test", "clsr_plugin.flops",
                              "clsr_plugin"]),
]  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports (``from a import b``: ``a.b`` when it is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            found |= {
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            }
    return {m for m in found if m in known and m != name}


def layer(name: str) -> int:
    best = max(
        ((len(p), i) for i, (_, prefixes) in enumerate(LAYERS) for p in prefixes
         if name == p or name.startswith(p + ".")),
        default=None,
    )  # fmt: skip
    if best is None:
        raise AssertionError(f"{name} is in no layer of LAYERS: add it")
    return best[1]


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle():
    assert cycles(graph()) == []


def test_nothing_imports_upward():
    upward = [
        f"{a} ({LAYERS[layer(a)][0]}) imports {b} ({LAYERS[layer(b)][0]})"
        for a, targets in sorted(graph().items())
        for b in sorted(targets)
        if layer(b) > layer(a)
    ]
    assert upward == []


def test_the_checker_sees_circles_and_upward_imports(tmp_path):
    """The checks above can fail: a planted circle and an upward import are found."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer("clsr_plugin.utils.atomic") < layer("clsr_plugin.inference.api")
    assert layer("clsr_plugin.infer") == len(LAYERS) - 1
    src = tmp_path / "clsr_plugin" / "utils"
    src.mkdir(parents=True)
    (src / "x.py").write_text("from clsr_plugin.inference import api\nfrom . import y\n")
    (src / "y.py").write_text("")
    known = {"clsr_plugin.utils.x", "clsr_plugin.utils.y", "clsr_plugin.inference",
             "clsr_plugin.inference.api"}  # fmt: skip
    got = imports("clsr_plugin.utils.x", src / "x.py", known)
    assert got == {"clsr_plugin.inference.api", "clsr_plugin.utils.y"}


def test_every_module_has_a_layer():
    for name in modules():
        layer(name)


#: the registered method names (spelled here, in a test, to check that the package spells them
#: only in ``clsr_plugin/evaluation/``)
METHOD_NAMES = ("pre_nopad", "pre_pad", "post", "clsr")


def method_literals(path: Path, root: Path = ROOT) -> list[str]:
    """``path:line: 'text'`` for each string literal (docstrings aside) that is a method name,
    a metric key of one (``clsr/psnr_img``) or a paired-difference key (``clsr - post``)."""
    tree = ast.parse(path.read_text())
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    hits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
            continue
        text = node.value
        words = {text, text.split("/")[0], *text.split(" - ")}
        if id(node) not in docs and words & set(METHOD_NAMES):
            hits.append(f"{path.relative_to(root)}:{node.lineno}: {text!r}")
    return hits


def test_method_names_only_in_evaluation():
    outside = [p for p in sorted(PACKAGE.rglob("*.py")) if "evaluation" not in p.parts]
    assert [hit for p in outside for hit in method_literals(p)] == []


def test_the_method_name_check_can_fail(tmp_path):
    src = tmp_path / "m.py"
    src.write_text('"""clsr in a docstring is prose."""\nA = "post"\nB = "clsr/psnr_img"\n'
                   'C = "clsr - pre_pad"\nD = "postage"\n')  # fmt: skip
    hits = [h.split(": ", 1)[1] for h in method_literals(src, tmp_path)]
    assert hits == ["'post'", "'clsr/psnr_img'", "'clsr - pre_pad'"]

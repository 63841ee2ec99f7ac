"""clsr-demo's parts (clsr_plugin.showcase) are libraries: no command line module imported."""

import ast
import pathlib

import clsr_plugin.showcase as showcase

PACKAGE = pathlib.Path(showcase.__file__).parent
COMMAND_LINES = {f"clsr_plugin.{m}" for m in ("demo", "bench", "infer", "adapt", "train", "test",
                                              "basicsr_cli")}  # fmt: skip
#: none: clsr-bench's entry point is passed in by clsr-demo (showcase.benchmarks.Bench)
ALLOWED: set[tuple[str, str]] = set()


def imported(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_showcase_imports_no_command_line_module():
    found = [(p.name, m) for p in sorted(PACKAGE.glob("*.py")) for m in sorted(imported(p))
             if m in COMMAND_LINES and (p.name, m) not in ALLOWED]  # fmt: skip
    assert found == []


def test_the_demo_still_exports_its_parts():
    import clsr_plugin.demo as demo

    assert [name for name in demo.__all__ if not hasattr(demo, name)] == []

"""Dependencies point one way: envs <- trainers <- evaluators <- sftvsrl_cli.

A package may import itself and the packages below it, never one above. The test reads every module's
imports (top-level and inside functions) with `ast`, so a lazy import that points the wrong way fails too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["envs", "trainers", "evaluators", "sftvsrl_cli"]


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("package", LAYERS)
def test_no_import_points_up(package):
    allowed = set(LAYERS[: LAYERS.index(package) + 1])
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top in LAYERS and top not in allowed:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not wrong, "imports that point up the layers:\n" + "\n".join(wrong)


def test_the_check_sees_a_wrong_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from sftvsrl_cli.config import load_config\n")
    assert _imports(module) == [(2, "sftvsrl_cli.config")]

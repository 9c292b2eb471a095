"""Print the project's dependency picture: for each top-level part, the other parts it imports.

    .venv/bin/python -m devtools.layers

Read from the source with ``ast`` (every import, also inside functions), so it shows what the code
says, including the module ``worker.py`` that import-linter cannot take as a root. The rules themselves
are checked by ``lint-imports`` (pyproject.toml) and tests/unit/test_layers.py.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Top-level parts, in the order dependencies should point (each may use those after it).
PARTS = (
    "devtools",
    "starter",
    "worker",
    "workflows",
    "activities",
    "temporal_client",
    "workflows.names",  # ids, signal and queue names: shared by everything above
    "q2c.connectors",
    "q2c.store",
    "q2c.config",
    "q2c.domain",
    "q2c_sandbox",
)
_FILES = {
    "worker": [ROOT / "worker.py"],
    "q2c.config": [ROOT / "q2c" / "config.py"],
    "workflows.names": [ROOT / "workflows" / "names.py"],
    "q2c_sandbox": sorted((ROOT / "sandbox" / "q2c_sandbox").rglob("*.py")),
}


def part_of(module: str) -> str | None:
    for part in sorted(PARTS, key=len, reverse=True):
        if module == part or module.startswith(part + "."):
            return part
    return None


def files(part: str) -> list[Path]:
    if part in _FILES:
        return _FILES[part]
    inner = {p for other in PARTS if other.startswith(part + ".") for p in files(other)}
    return [p for p in sorted((ROOT / part.replace(".", "/")).rglob("*.py")) if p not in inner]


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from workflows import names` imports the module workflows.names, not all of workflows.
            for alias in node.names:
                inner = f"{node.module}.{alias.name}"
                found.add(inner if part_of(inner) != part_of(node.module) else node.module)
    return found


def picture() -> dict[str, set[str]]:
    """part -> the other parts it imports."""
    uses: dict[str, set[str]] = defaultdict(set)
    for part in PARTS:
        for path in files(part):
            for module in imports(path):
                target = part_of(module)
                if target and target != part:
                    uses[part].add(target)
    return uses


def main() -> None:
    uses = picture()
    width = max(map(len, PARTS))
    for part in PARTS:
        targets = sorted(uses.get(part, ()), key=PARTS.index)
        print(f"{part:<{width}} -> {', '.join(targets) or '(nothing of the project)'}")
    upward = [(a, b) for a in PARTS for b in uses.get(a, ()) if PARTS.index(b) < PARTS.index(a)]
    if upward:
        print("\nimports pointing up the layers:", ", ".join(f"{a} -> {b}" for a, b in upward))
        sys.exit(1)


if __name__ == "__main__":
    main()

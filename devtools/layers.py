"""Print the project's dependency picture: for each top-level part, the other parts it imports.

    .venv/bin/python -m devtools.layers [--root DIR]

``--root`` reads another checkout of the project (e.g. ``git worktree add /tmp/before 3ac36a0``), so the
picture before a change can be printed beside the one after; parts it lacks are left out.

Read from the source with ``ast`` (every import, also inside functions), so it shows what the code
says, including the module ``worker.py`` that import-linter cannot take as a root. The rules themselves
are checked by ``lint-imports`` (pyproject.toml) and tests/unit/test_layers.py.
"""

from __future__ import annotations

import argparse
import ast
import sys
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
    "q2c.reports",  # report files rendered from domain models (jinja2); no I/O but writing them
    "q2c.store",
    "q2c.config",
    "q2c.domain",
    "q2c_sandbox",
    "q2c.sandbox",  # where the sandboxes lived before they became their own distribution
)
_FILES = {
    "worker": ["worker.py"],
    "q2c.config": ["q2c/config.py"],
    "workflows.names": ["workflows/names.py"],
    "q2c_sandbox": ["sandbox/q2c_sandbox"],
}


def part_of(module: str) -> str | None:
    for part in sorted(PARTS, key=len, reverse=True):
        if module == part or module.startswith(part + "."):
            return part
    return None


def files(part: str, root: Path = ROOT) -> list[Path]:
    """The source files of one part under ``root`` (none when that checkout has no such part)."""
    found: list[Path] = []
    for place in _FILES.get(part, [part.replace(".", "/")]):
        path = root / place
        found += [path] if path.is_file() else sorted(path.rglob("*.py")) if path.is_dir() else []
    inner = {p for other in PARTS if other.startswith(part + ".") for p in files(other, root)}
    return [p for p in found if p not in inner]


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


def picture(root: Path = ROOT) -> dict[str, set[str]]:
    """part -> the other parts it imports (parts absent from ``root`` have no entry)."""
    uses: dict[str, set[str]] = {}
    for part in PARTS:
        sources = files(part, root)
        if not sources:
            continue
        uses[part] = set()
        for path in sources:
            for module in imports(path):
                target = part_of(module)
                if target and target != part:
                    uses[part].add(target)
    return uses


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.layers", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to read (default: this one)")
    uses = picture(parser.parse_args(argv).root)
    parts = [p for p in PARTS if p in uses]
    width = max(map(len, parts))
    for part in parts:
        targets = sorted(uses[part], key=PARTS.index)
        print(f"{part:<{width}} -> {', '.join(targets) or '(nothing of the project)'}")
    upward = [(a, b) for a in parts for b in sorted(uses[a]) if PARTS.index(b) < PARTS.index(a)]
    if upward:
        print("\nimports pointing up the layers:", ", ".join(f"{a} -> {b}" for a, b in upward))
        sys.exit(1)


if __name__ == "__main__":
    main()

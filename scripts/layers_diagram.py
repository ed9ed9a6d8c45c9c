"""The picture of the engine's layers in docs/architecture.md, drawn from pyproject.toml.

Reads the import-linter ``layers`` contracts: the engine's ("semicl engine layers",
container ``semicl``) and those of its packages (container ``semicl.<module>``, drawn
inside that module's layer), and draws them top to bottom as text boxes, with the plugin
above the engine and the benchmarks and scripts beside it.

    python scripts/layers_diagram.py            # print the diagram
    python scripts/layers_diagram.py --write    # put it into docs/architecture.md
    python scripts/layers_diagram.py --check    # exit 1 (with a diff) when the docs differ

``tests/core/test_layers_diagram.py`` runs ``--check``, so the docs follow the contract.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = REPO / "pyproject.toml"
DOC = REPO / "docs" / "architecture.md"
ENGINE = "semicl"
BEGIN = "<!-- layers-diagram: drawn by scripts/layers_diagram.py from pyproject.toml -->"
END = "<!-- /layers-diagram -->"
PLUGIN = "napari_semicl (the plugin)"
BESIDE = "benchmarks/, scripts/ (not installed)"
ARROW = "▼ import any layer"
TITLE = f"{ENGINE} (the engine: imports no GUI package)"


def layer_contracts(pyproject: Path) -> dict[str, list[str]]:
    """Container -> its layers (top first), for each import-linter ``layers`` contract."""
    config = tomllib.loads(pyproject.read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    layers: dict[str, list[str]] = {}
    for contract in contracts:
        if contract.get("type") == "layers":
            for container in contract.get("containers", []):
                layers[container] = list(contract["layers"])
    if ENGINE not in layers:
        raise SystemExit(f"{pyproject}: no layers contract with container {ENGINE!r}")
    return layers


def modules(layer: str) -> list[str]:
    """The module names of one layer entry ("a | b", "a : b", optional "(a)")."""
    names = layer.replace(":", "|").split("|")
    return [n.strip().strip("()") for n in names if n.strip()]


def nested(container: str, layer: str, layers: dict[str, list[str]]) -> list[str]:
    """The packages of ``layer`` that have layers of their own (drawn inside it)."""
    return [f"{container}.{m}" for m in modules(layer) if f"{container}.{m}" in layers]


def needed(container: str, layers: dict[str, list[str]], title: str = "") -> int:
    """The width of ``container``'s box: the longest layer, nested box or title."""
    widths = [len(title) + 6] if title else []
    for layer in layers[container]:
        widths.append(len(" ".join(layer.split())) + 4)
        widths += [needed(inner, layers) + 4 for inner in nested(container, layer, layers)]
    return max(widths)


def box(container: str, layers: dict[str, list[str]], width: int, title: str = "") -> list[str]:
    """``container``'s layers, top first, one box ``width`` characters wide; a package
    with a layers contract of its own is a box inside its layer."""
    top = f"─ {title} " if title else ""
    lines = ["┌" + top + "─" * (width - 2 - len(top)) + "┐"]
    for i, layer in enumerate(layers[container]):
        if i:
            lines.append("├" + "─" * (width - 2) + "┤")
        lines.append("│ " + " ".join(layer.split()).ljust(width - 4) + " │")
        for inner in nested(container, layer, layers):
            lines += ["│ " + line + " │" for line in box(inner, layers, width - 4)]
    lines.append("└" + "─" * (width - 2) + "┘")
    return lines


def draw(layers: dict[str, list[str]]) -> str:
    """The plugin above the engine's box, the benchmarks and scripts beside it."""
    width = max(needed(ENGINE, layers, TITLE), len(PLUGIN) + len(BESIDE) + 12)
    right = width - len(BESIDE)
    marks = {len(PLUGIN) // 2: "│", right + len(BESIDE) // 2: "│"}
    head = [PLUGIN + " " * (right - len(PLUGIN)) + BESIDE, _at(marks),
            _at(dict.fromkeys(marks, ARROW))]
    return "\n".join(line.rstrip() for line in head + box(ENGINE, layers, width, TITLE)) + "\n"


def _at(marks: dict[int, str]) -> str:
    """Each text of ``marks`` (column -> text) at its column, on one line."""
    line = ""
    for col, text in sorted(marks.items()):
        line += " " * (col - len(line)) + text
    return line


def replace_block(doc: str, diagram: str) -> str:
    if BEGIN not in doc or END not in doc:
        raise SystemExit(f"{DOC}: add the lines {BEGIN!r} and {END!r} where the diagram goes")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n```text\n{diagram}```\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"update {DOC.relative_to(REPO)}")
    mode.add_argument("--check", action="store_true", help="exit 1 when the docs differ")
    ap.add_argument("--pyproject", type=Path, default=PYPROJECT)
    ap.add_argument("--doc", type=Path, default=DOC)
    args = ap.parse_args(argv)
    diagram = draw(layer_contracts(args.pyproject))
    if not (args.write or args.check):
        print(diagram, end="")
        return 0
    doc = args.doc.read_text()
    wanted = replace_block(doc, diagram)
    if args.write:
        args.doc.write_text(wanted)
        return 0
    if wanted != doc:
        sys.stdout.writelines(difflib.unified_diff(
            doc.splitlines(keepends=True), wanted.splitlines(keepends=True),
            str(args.doc), "drawn from " + str(args.pyproject)))
        print(f"\n{args.doc} does not match the layers contracts: run "
              "python scripts/layers_diagram.py --write")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

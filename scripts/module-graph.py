#!/usr/bin/env python3
"""Import graph of the shared crate's top-level modules; fails on a cycle.

`make test` runs it so no import cycle comes back. Prints each module's
dependencies, the largest files, and any cycle found.
Usage: scripts/module-graph.py [--max-lines N]
"""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent / "shared" / "src"
max_lines = int(sys.argv[sys.argv.index("--max-lines") + 1]) if "--max-lines" in sys.argv else None


def top(path: pathlib.Path) -> str:
    rel = path.relative_to(root).parts
    return rel[0].removesuffix(".rs")


graph: dict[str, set[str]] = {}
sizes = []
for f in sorted(root.rglob("*.rs")):
    text = f.read_text()
    # Unit tests may reach anywhere; only the library's own imports count.
    text = text.split("#[cfg(test)]")[0]
    m = top(f)
    if m == "lib":
        continue
    sizes.append((len(f.read_text().splitlines()), str(f.relative_to(root))))
    deps = graph.setdefault(m, set())
    for dep in re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", text):
        if dep != m:
            deps.add(dep)

cycles = []
def visit(node, stack, seen):
    for d in sorted(graph.get(node, ())):
        if d in stack:
            cyc = stack[stack.index(d):] + [d]
            key = frozenset(cyc)
            if key not in seen:
                seen.add(key)
                cycles.append(cyc)
        elif d in graph:
            visit(d, stack + [d], seen)

seen: set = set()
for n in sorted(graph):
    visit(n, [n], seen)

for n in sorted(graph):
    print(f"{n:14} -> {', '.join(sorted(graph[n])) or '-'}")
print("largest files:", ", ".join(f"{p} ({n})" for n, p in sorted(sizes, reverse=True)[:5]))
status = 0
if cycles:
    print("import cycles:")
    for c in cycles:
        print("  " + " -> ".join(c))
    status = 1
else:
    print("import cycles: none")
if max_lines:
    over = [(n, p) for n, p in sizes if n > max_lines]
    for n, p in over:
        print(f"over {max_lines} lines: {p} ({n})")
    status = status or (1 if over else 0)
sys.exit(status)

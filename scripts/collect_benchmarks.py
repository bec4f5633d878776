"""Collects docs/benchmarks/*.md into docs/benchmarks.md."""

from pathlib import Path

root = Path(__file__).resolve().parent.parent / "docs"
parts = sorted((root / "benchmarks").glob("*.md"))
header = (
    "# Benchmarks\n\n"
    "Measured on this project's reference machine (2 cores, 24 GiB) by `make bench`;\n"
    "each section is written by its benchmark script in `benchmarks/` with the figures\n"
    "of its last run. Ratios compare numbers measured in the same run.\n\n"
)
body = "\n\n".join(p.read_text().strip() for p in parts)
(root / "benchmarks.md").write_text(header + body + "\n")
print(f"docs/benchmarks.md: {len(parts)} sections")

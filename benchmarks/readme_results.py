"""The README's "Results" block, copied from the measured tables in docs/results/ so that no figure in the README is
typed by hand. Rewrites the lines between RESULTS_BEGIN and RESULTS_END in README.md.

    python benchmarks/readme_results.py           # rewrite the block
    python benchmarks/readme_results.py --check   # exit 1 if the block differs from docs/results/ (a test runs this)
"""

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_BEGIN = "<!-- results: written by `python benchmarks/readme_results.py` from docs/results/, do not edit -->"
RESULTS_END = "<!-- end of results -->"


@dataclass(frozen=True)
class ResultsExcerpt:
    """The tables of one results file whose header row starts with one of `headers`, under a title of the README's."""

    title: str
    path: str
    headers: tuple[str, ...]


EXCERPTS = [
    ResultsExcerpt("The paper's comparison (Table 2): test scores", "docs/results/paper_comparison.md", ("| system |",)),
    ResultsExcerpt("The visual path learns: entity types shown only by the image", "docs/results/visual_types.md", ("| condition |",)),
    ResultsExcerpt("One process against two (torchrun, gloo)", "docs/results/distributed.md", ("| run | batches",)),
    ResultsExcerpt("Speed: the targets, full-size model on this machine's CPU", "docs/results/performance.md", ("| target |",)),
    ResultsExcerpt("Size: parameters of the full-size model", "docs/results/parameter_counts.md", ("| component |", "| | trainable |")),
]


def tables_under_headings(text: str) -> list[tuple[str, list[str]]]:
    """Every Markdown table of `text` as (the nearest '## ' heading above it, or '', its lines)."""
    tables: list[tuple[str, list[str]]] = []
    heading, current = "", None
    for line in text.splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
        if line.startswith("|"):
            if current is None:
                current = []
                tables.append((heading, current))
            current.append(line)
        else:
            current = None
    return tables


def render_excerpt(excerpt: ResultsExcerpt, root: Path = ROOT) -> list[str]:
    source = root / excerpt.path
    if not source.is_file():
        raise FileNotFoundError(f"{source}: results file missing; run the command named in benchmarks/ that writes it")
    chosen = [(heading, lines) for heading, lines in tables_under_headings(source.read_text()) if lines[0].startswith(excerpt.headers)]
    if not chosen:
        raise ValueError(f"{source}: no table whose header starts with any of {excerpt.headers}; update EXCERPTS in {__file__}")
    rendered = [f"### {excerpt.title}", "", f"From [{excerpt.path}]({excerpt.path}), which names the command that made it.", ""]
    for heading, lines in chosen:
        if len(chosen) > 1 and heading:
            rendered += [f"**{heading}**", ""]
        rendered += lines + [""]
    return rendered


def results_block(root: Path = ROOT) -> str:
    lines = [RESULTS_BEGIN, ""]
    for excerpt in EXCERPTS:
        lines += render_excerpt(excerpt, root)
    return "\n".join(lines + [RESULTS_END])


def readme_with_results(readme: str, block: str) -> str:
    if readme.count(RESULTS_BEGIN) != 1 or readme.count(RESULTS_END) != 1:
        raise ValueError(f"README.md must hold the lines {RESULTS_BEGIN!r} and {RESULTS_END!r} once each")
    before, rest = readme.split(RESULTS_BEGIN)
    _, after = rest.split(RESULTS_END)
    return before + block + after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if README.md is out of date")
    args = parser.parse_args()
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text()
    updated = readme_with_results(readme, results_block())
    if args.check:
        if updated != readme:
            sys.exit("README.md's results block differs from docs/results/: run python benchmarks/readme_results.py")
        print("README.md's results block matches docs/results/")
        return
    readme_path.write_text(updated)
    print(f"wrote the results block of {readme_path}")


if __name__ == "__main__":
    main()

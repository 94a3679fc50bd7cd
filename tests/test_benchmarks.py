"""The benchmark scripts cannot rot unnoticed: the performance benchmark in quick mode (tiny models and inputs) writes
every section and target line, and the README's results block matches the files in docs/results/."""

import re
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

SECTIONS = (
    "## Targets",
    "## 1. Inference",
    "## 2. Training step",
    "## 3. CRF",
    "## 4. Feature caching",
    "## 5. Peak memory",
    "## 6. Hot paths",
)
TARGETS = (
    "| training step with cached features: time ratio UMT / BERT-CRF over their FLOP ratio |",
    "| inference from pixels, batch 1: time over the FLOP-count prediction |",
    "| inference from pixels, batch 3: time over the FLOP-count prediction |",
    "| CRF Viterbi, batch 4: speed-up over the per-sequence Python CRF (slowest length) |",
    "| hot paths: Python loops over posts, pieces or words besides the CRFs' scan over positions",
)


def test_quick_mode_writes_every_section_and_target(tmp_path):
    output = tmp_path / "performance.md"
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "performance.py"), "--quick", "--threads", "1", "--output", str(output)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-4000:]
    text = output.read_text()
    assert text.startswith("# Performance (quick mode")
    for heading in ("Command: ", "Versions: ", "Machine: ", "Device: CPU, fp32, torch threads: 1"):
        assert heading in text
    positions = [text.index(section) for section in SECTIONS]
    assert positions == sorted(positions)
    target_lines = {line for line in text.splitlines() if line.startswith(TARGETS)}
    assert len(target_lines) == len(TARGETS)
    for line in target_lines:  # a measured value, the limit and a verdict
        assert re.search(r"\| [0-9.]+x? \(.+\) \| .+ \| (PASS|\*\*FAIL\*\*) \|$", line) or line.endswith("| none | none | PASS |"), line
    # Counting operations does not depend on the machine: the hot-path check holds at any size.
    assert any(line.endswith("| none | none | PASS |") for line in target_lines)
    crf_section = text[text.index("## 3. CRF") : text.index("## 4. Feature caching")]
    assert crf_section.count("| yes |") == 3 * 2 and "**no**" not in crf_section  # the two CRFs agree everywhere
    assert "| 6 |" in text[text.index("## 4. Feature caching") : text.index("## 5. Peak memory")]


def test_readme_results_block_matches_docs_results():
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "readme_results.py"), "--check"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr


def test_readme_results_copies_the_chosen_tables_and_names_missing_ones(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "benchmarks"))
    from readme_results import ResultsExcerpt, render_excerpt

    (tmp_path / "scores.md").write_text(
        "# Scores\n\n## A\n\n| system | F1 |\n|---|---:|\n| x | 1.0 |\n\n| run | s |\n|---|---:|\n| r | 3 |\n"
        "\n## B\n\n| system | F1 |\n|---|---:|\n| y | 2.0 |\n"
    )
    rendered = render_excerpt(ResultsExcerpt("Scores", "scores.md", ("| system |",)), tmp_path)
    assert rendered[0] == "### Scores"
    assert "| x | 1.0 |" in rendered and "| y | 2.0 |" in rendered and "| r | 3 |" not in rendered
    assert rendered.index("**A**") < rendered.index("| x | 1.0 |") < rendered.index("**B**") < rendered.index("| y | 2.0 |")
    with pytest.raises(ValueError, match=r"scores\.md: no table whose header starts with"):
        render_excerpt(ResultsExcerpt("Scores", "scores.md", ("| target |",)), tmp_path)
    with pytest.raises(FileNotFoundError, match=r"missing\.md: results file missing"):
        render_excerpt(ResultsExcerpt("Scores", "missing.md", ("| system |",)), tmp_path)

"""The performance benchmark in quick mode (tiny models and inputs): every measurement runs, and the results file has
every section and every target line, so the full-size script cannot rot unnoticed."""

import re
import subprocess
import sys

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

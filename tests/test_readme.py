"""The README's Python section runs as printed, on synthetic data: what a reader copies works."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("## Your own model, in your own code")[1].split("\n## ")[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_python_section_runs(prepared_aflw2000, tmp_path, monkeypatch, capsys):
    blocks = _python_blocks()
    assert len(blocks) == 3
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "aflw2000.h5").symlink_to(prepared_aflw2000)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 — the README's own code
    first, second = (float(line) for line in capsys.readouterr().out.split())
    assert first == pytest.approx(second, abs=1e-9) and first > 0

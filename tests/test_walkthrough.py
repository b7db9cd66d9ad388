"""The README's path from `make demo` to a model served by ONNX Runtime, run line by line (with a tiny demo)."""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from uclaf_plugin.cli import app

pytest.importorskip("onnxruntime")

README = Path(__file__).resolve().parents[1] / "README.md"
HEADING = "## From the demo to label sets and a served model"
QUICK_DEMO = ["demo", "--output", "runs/demo", "--limit-train", "48", "--epochs", "1", "--quiet"]


def walkthrough_lines() -> list[str]:
    section = README.read_text(encoding="utf-8").split(HEADING, 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.DOTALL).group(1)
    return [re.sub(r"\s+# .*$", "", line).strip() for line in block.splitlines() if line.strip()]


def run_line(line: str, cwd: Path) -> str:
    """One README line: `make demo` as a tiny demo, `uclaf-bench` in process, shell and python lines as written."""
    if line == "make demo":
        args = QUICK_DEMO
    elif line.startswith("uclaf-bench "):
        args = shlex.split(line)[1:]
    elif line.startswith(". "):
        return ""  # activating the virtual environment: this test already runs inside one
    else:
        command = (
            line.replace("python ", f"{shlex.quote(sys.executable)} ", 1)
            if line.startswith("python ")
            else line
        )
        result = subprocess.run(command, shell=True, cwd=cwd, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{line}\n{result.stderr}"
        return result.stdout
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, f"{line}\n{result.output}"
    return result.output


def test_readme_walkthrough_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = walkthrough_lines()
    assert lines[0] == "make demo" and any("export" in line for line in lines)
    outputs = {line: run_line(line, tmp_path) for line in lines}
    demo = outputs["make demo"]
    assert "linear" in demo and "uclaf" in demo and "micro-F1 (tuned)" in demo and "true labels" in demo
    predictions = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert [record["line"] for record in predictions] == [1, 2]
    assert all(len(record["scores"]) == 5 for record in predictions)
    served = [json.loads(line) for line in outputs[lines[-1]].splitlines()]
    assert len(served) == 2 and all(record["labels"] for record in served)  # retuned with --at-least-one
    saved = json.loads((tmp_path / "runs/demo/uclaf/thresholds.json").read_text())
    assert saved["objective"] == "macro-F1" and saved["at_least_one"]

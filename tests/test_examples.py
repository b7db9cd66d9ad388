"""Every recipe in docs/examples runs to the end; each checks its own claims with assertions."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
SCRIPTS = sorted(EXAMPLES.glob("pml_*.py"))
HANG_GUARD_SECONDS = 180  # a hang guard, not a speed claim: each script takes a few seconds


def test_the_four_pml_recipes_are_there():
    expected = {
        "pml_training_loop.py",
        "pml_cross_batch_memory.py",
        "pml_distributed.py",
        "pml_swap_supcon.py",
    }
    assert expected <= {script.name for script in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_example_runs_and_its_assertions_hold(script):
    # tiny tensors: one thread per process avoids spinning when other processes share the cores
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=HANG_GUARD_SECONDS, env=env
    )
    assert result.returncode == 0, f"{script.name} failed:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip(), f"{script.name} printed nothing"

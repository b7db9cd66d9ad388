"""The README's pytorch-metric-learning example runs as written and trains; its head example runs too."""

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"
HEADING = "## Use CACLLoss in your pytorch-metric-learning code"
HEAD_EXAMPLE_AFTER = "The heads drop into any encoder"


def _first_python_block_under(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    assert heading in text, f"README.md lost the heading {heading!r}"
    section = text.split(heading, 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert match, f"no ```python block under {heading!r} in README.md"
    return match.group(1)


def test_readme_cacl_example_runs_and_the_loss_decreases():
    namespace = {}
    exec(compile(_first_python_block_under(HEADING), str(README), "exec"), namespace)
    assert namespace["losses"][-1] < namespace["losses"][0]


def test_readme_head_example_runs_and_returns_the_shapes_it_states():
    namespace = {}
    exec(compile(_first_python_block_under(HEAD_EXAMPLE_AFTER), str(README), "exec"), namespace)
    assert namespace["logits"].shape == (2, 3956)
    assert namespace["attention"].shape == (2, 3956, 7)
    torch.testing.assert_close(namespace["attention"].sum(-1), torch.ones(2, 3956))

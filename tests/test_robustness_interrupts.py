"""Issue #17, kinds 1 and 4: Ctrl-C keeps its promise in every command; a resume is the run it claims to be."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from toy_corpus import write_toy
from typer.testing import CliRunner

from uclaf_plugin.cli import app

runner = CliRunner()
TINY = ["--epochs", "2", "--max-length", "16", "-q"]


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Rich wraps long paths at the terminal width; a wide one keeps each message on one line."""
    monkeypatch.setenv("COLUMNS", "1000")


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture
def ctrl_c_after_one_step(monkeypatch):
    """Press Ctrl-C once, during the first training step; ``undo()`` lets later steps run."""
    from uclaf_plugin.train import Trainer

    real_step, calls = Trainer._train_step, []

    def step_then_ctrl_c(self, *args, **kwargs):
        losses = real_step(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)
        return losses

    monkeypatch.setattr(Trainer, "_train_step", step_then_ctrl_c)
    return lambda: monkeypatch.setattr(Trainer, "_train_step", real_step)


def logged_steps(folder: Path) -> list[int]:
    return [
        json.loads(line)["step"]
        for line in (folder / "train_log.jsonl").read_text().splitlines()
        if '"step"' in line
    ]


def test_compare_interrupted_says_how_to_resume_and_resumes(tmp_path, ctrl_c_after_one_step):
    data, root = write_toy(tmp_path / "toy"), tmp_path / "runs"
    args = ["compare", "-d", data, "--methods", "linear,xmlcnn", *TINY, "--root", root]
    code, message = invoke(*args)
    assert code == 130
    assert (
        f"Resume with: uclaf-bench compare --dataset {data} --methods linear,xmlcnn --seeds 0 --epochs 2 "
        f"--max-length 16 --root {root} (resumes the interrupted run and reuses the finished ones)"
    ) in message
    [checkpoint] = root.rglob("checkpoint.pt")
    ctrl_c_after_one_step()
    code, message = invoke(*args)
    assert code == 0, message
    assert "linear: reusing" in message and f"resuming the interrupted run from {checkpoint}" in message
    folder = checkpoint.parent
    assert not checkpoint.exists()
    assert logged_steps(folder) == list(range(1, 9))  # 60 documents, batch 16: 4 steps per epoch, each once
    assert [point["epoch"] for point in json.loads((folder / "metrics.json").read_text())["val_curve"]] == [
        1,
        2,
    ]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            ["ablate", "--encoder", "xmlcnn", "--positives", "any"],
            "uclaf-bench ablate --dataset {data} --positives any --seeds 0 --epochs 2 --max-length 16 "
            "--encoder xmlcnn --root {root}",
        ),
        (
            ["sweep", "--method", "xmlcnn+cacl", "--param", "lambda", "--values", "0.3"],
            "uclaf-bench sweep --dataset {data} --param lambda --values 0.3 --method xmlcnn+cacl --seeds 0 "
            "--epochs 2 --max-length 16 --root {root}",
        ),
    ],
)
def test_ablate_and_sweep_interrupted_resume_too(tmp_path, ctrl_c_after_one_step, command, expected):
    data, root = write_toy(tmp_path / "toy"), tmp_path / "runs"
    code, message = invoke(command[0], "-d", data, *command[1:], *TINY, "--root", root)
    assert code == 130 and f"Resume with: {expected.format(data=data, root=root)} (resumes" in message
    ctrl_c_after_one_step()
    code, message = invoke(command[0], "-d", data, *command[1:], *TINY, "--root", root)
    assert code == 0 and "resuming the interrupted run" in message, message
    [metrics] = root.rglob("metrics.json")
    assert logged_steps(metrics.parent) == list(range(1, 9))


def test_run_resume_refuses_other_settings_and_other_data(tmp_path, ctrl_c_after_one_step):
    data, folder = write_toy(tmp_path / "toy"), tmp_path / "run"
    base = ["run", "-d", data, "-m", "xmlcnn", "--max-length", "16", "-q", "-o", folder]
    code, message = invoke(*base, "--epochs", "2")
    assert code == 130
    assert (
        f"Resume with: uclaf-bench run --dataset {data} --method xmlcnn --seed 0 --epochs 2 --max-length 16 "
        f"--output {folder} --resume"
    ) in message
    ctrl_c_after_one_step()
    code, message = invoke(*base, "--epochs", "3", "--resume")
    assert (
        code == 2
        and f"cannot resume: {folder}'s interrupted run had other settings (train differ;" in message
    )
    lines = (data / "train.txt").read_text().splitlines()
    (data / "train.txt").write_text("\n".join(lines[:-1]) + "\n")
    code, message = invoke(*base, "--epochs", "2", "--resume")
    assert code == 2 and f"cannot resume: {folder}'s interrupted run read other data" in message
    (data / "train.txt").write_text("\n".join(lines) + "\n")
    code, message = invoke(*base, "--epochs", "2", "--resume")
    assert code == 0, message
    assert logged_steps(folder) == list(range(1, 9))


def test_ctrl_c_during_a_two_process_run_prints_the_single_process_message(tmp_path):
    data, folder = write_toy(tmp_path / "toy"), tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "uclaf_plugin.cli",
        "run",
        "-d",
        str(data),
        "-m",
        "xmlcnn",
        "--epochs",
        "200",
    ]
    command += ["--max-length", "16", "--nproc", "2", "-o", str(folder), "-q"]
    env = {**os.environ, "COLUMNS": "400", "PYTHONPATH": str(Path(__file__).parents[1])}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    started = time.monotonic()
    while (
        not (folder / "train_log.jsonl").is_file()
        and process.poll() is None
        and time.monotonic() - started < 300
    ):
        time.sleep(0.2)
    os.killpg(
        process.pid, signal.SIGINT
    )  # what Ctrl-C in a terminal does: every process of the group gets it
    try:
        output = process.communicate(timeout=300)[0].decode()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, output
    assert f"Interrupted. Checkpoint: {folder / 'checkpoint.pt'}" in output
    assert (
        f"Resume with: uclaf-bench run --dataset {data} --method xmlcnn --seed 0 --epochs 200 --max-length 16 "
        f"--output {folder} --resume"
    ) in output
    assert (folder / "checkpoint.pt").is_file()

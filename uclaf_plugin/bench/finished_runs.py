"""What you do with a finished run folder: predict with the model it names, re-tune its decision thresholds.

The folder may hold a neural run (``model.safetensors``) or a linear one (``linear_baseline.joblib``); its
``config.json`` says which, and every error names the file that is missing, damaged or inconsistent.
"""

from __future__ import annotations

from pathlib import Path

from .run_folder import RunFolder
from .spec import RunSpec


def predict(run_dir: Path, texts: list[str], top_k: int) -> list[dict]:
    """``{"labels": label set, "scores": top-k scores}`` for each text, from the model that the run folder names.

    Raises FileNotFoundError / ValueError (one line) for a folder that is not a run, misses that model's file,
    or whose files disagree with each other (weights, ``labels.json``, ``config.json``).
    """
    from ..predict import RunPredictor

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"--run {run_dir} does not exist; pass a folder written by uclaf-bench run")
    kind = _run_kind(run_dir)
    if kind == "linear":
        _load_linear(run_dir)  # a damaged model file gives a one-line error
    return _with_label_texts(run_dir, RunPredictor(run_dir, kind=kind).predict(texts, top_k))


def _run_kind(run_dir: Path) -> str:
    """``"neural"`` or ``"linear"``: the model that ``config.json`` names; its file must be there."""
    from ..baselines.linear import MODEL_FILE
    from ..pipeline import WEIGHTS_FILE, recorded_model_settings

    folder = RunFolder(run_dir)
    config = folder.config()
    spec = config.get("spec")
    if spec is None:  # a model saved by TextClassifier.save
        return "neural"
    kind, needed = ("linear", MODEL_FILE) if spec.get("model") is None else ("neural", WEIGHTS_FILE)
    if not (run_dir / needed).is_file():
        raise FileNotFoundError(
            f"{run_dir / needed} not found: config.json names a {kind} run ({spec.get('method')}); "
            "the run did not finish or the file was removed. Train it again"
        )
    if kind == "neural" and config.get("model") is not None:
        saved, named = (recorded_model_settings(entry) for entry in (config["model"], spec["model"]))
        if saved != named:
            differ = sorted(
                name for name in saved.keys() | named.keys() if saved.get(name) != named.get(name)
            )
            raise ValueError(
                f"{folder.config_file}: its 'model' entry and the run's spec disagree on {', '.join(differ)}; "
                "the folder's files come from different runs"
            )
    return kind


def _load_linear(run_dir: Path):
    from ..baselines.linear import MODEL_FILE, LinearBaseline

    try:
        return LinearBaseline.load(run_dir)
    except FileNotFoundError:
        raise
    except Exception as error:  # joblib/pickle report a damaged file with many error types
        raise ValueError(
            f"{run_dir / MODEL_FILE}: cannot read the linear model ({type(error).__name__}: {error}); "
            "the file is truncated or corrupted"
        ) from None


def _with_label_texts(run_dir: Path, records: list[dict]) -> list[dict]:
    """Labels as ``"id (text)"`` where the run folder has ``label_texts.json`` (EURLEX57K's concept descriptors)."""
    texts = RunFolder(run_dir).label_texts()
    if texts is None:
        return records

    def shown(label: str) -> str:
        return f"{label} ({texts[label]})" if label in texts else label

    return [
        {
            "labels": [shown(label) for label in record["labels"]],
            "scores": {shown(label): score for label, score in record["scores"].items()},
        }
        for record in records
    ]


def predict_file(
    run_dir: Path, input_path: Path, output: Path, top_k: int, batch_size: int, window: int, quiet: bool
) -> int:
    """Stream ``input_path`` (``.jsonl`` or text) into JSON lines at ``output``; returns the documents written."""
    from .. import predict as batch

    predictor = batch.RunPredictor(run_dir, batch_size=batch_size)
    return batch.predict_file(predictor, input_path, output, top_k=top_k, window=window, quiet=quiet)


def retune(run_dir: str | Path, objective: str, at_least_one: bool, kind: str, data_dir=None) -> dict:
    """Tune a finished run's thresholds again (another objective or fill rule) and update its ``metrics.json``."""
    from ..predict import RunPredictor
    from .decisions import tune_run_thresholds, tuned_test_metrics
    from .runner import prepare_data

    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    metrics, spec = folder.metrics(), RunSpec.from_dict(folder.spec())
    data = prepare_data(spec, data_dir)
    predictor = RunPredictor(run_dir, use_thresholds=False)
    fixed = metrics.get("thresholds", {}).get("fixed", {}).get("threshold", predictor.fixed_threshold)
    report = tune_run_thresholds(
        predictor.scores(data.val[0]),
        data.val[1],
        predictor.scores(data.test[0]),
        data.test[1],
        predictor.label_names,
        run_dir,
        fixed,
        objective,
        at_least_one,
        kind,
    )
    metrics["test"].update(tuned_test_metrics(report))
    folder.write_metrics({**metrics, "thresholds": report})
    return report

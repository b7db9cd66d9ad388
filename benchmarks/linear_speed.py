"""Linear one-vs-rest on a EURLEX57K subsample against LibMultiLabel's ``1vsrest``; evaluation at 6,000 x 4,271.

Run: python benchmarks/linear_speed.py [--train-docs 3000] [--test-docs 1000] [--n-jobs 2]
     [--libmultilabel-path DIR]   (a folder holding ``pip install --target DIR libmultilabel``, no [nn] extra)

Part 1 fits the same TF-IDF features (a seeded subsample of the train split, every label with a positive in it)
with ``LinearBaseline`` (LinearSVC per label, chunks on ``--n-jobs`` threads, sparse weights) and with the named
alternative in the same run: LibMultiLabel's ``train_1vsrest`` (LIBLINEAR ``-s 1 -c 1 -e 0.0001 -B 1``, the
same L2-loss dual SVM) when importable, else scikit-learn's ``OneVsRestClassifier(LinearSVC)`` with the same
``n_jobs``. It prints both fit and scoring times, their ratio, and P@1/P@5 of both on a test subsample.
Part 2 fits ``--full-labels`` labels drawn at random (seeded) among the 4,108 with a positive on the FULL train
split's features (45,000 acts), one LinearSVC each as ``LinearBaseline`` does, and projects the CPU time of the full
one-vs-rest fit from their mean CPU seconds per label (CPU time, so the projection holds on an idle machine).
Part 3 times ``evaluate`` on 6,000 documents x 4,271 labels (the real test targets, random scores, with the
frequent/few/zero groups) against the naive full-argsort evaluation of ``benchmarks/metrics_speed.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metrics_speed import naive_evaluate  # noqa: E402

from uclaf_plugin.baselines.linear import LinearBaseline  # noqa: E402
from uclaf_plugin.data import load_dataset  # noqa: E402
from uclaf_plugin.metrics import evaluate  # noqa: E402


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def fit_ours(texts, targets, n_jobs):
    model = LinearBaseline(n_jobs=n_jobs)
    _, fit_seconds = timed(model.fit, texts, targets)
    return model, fit_seconds


def fit_libmultilabel(features, targets):
    from libmultilabel import linear

    model = linear.train_1vsrest(targets.tocsr(), features, options="-s 1 -c 1 -e 0.0001 -B 1", verbose=False)
    return lambda x: np.asarray(linear.predict_values(model, x))


def fit_sklearn_ovr(features, targets, n_jobs):
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC

    model = OneVsRestClassifier(LinearSVC(C=1.0, dual=True, random_state=0), n_jobs=n_jobs)
    model.fit(features, targets.toarray())
    return model.decision_function


def linear_part(dataset, args) -> None:
    rng = np.random.default_rng(0)
    train = dataset.train.take(rng.permutation(len(dataset.train))[: args.train_docs])
    test = dataset.test.take(rng.permutation(len(dataset.test))[: args.test_docs])
    targets = dataset.binarize(train.labels)
    present = np.flatnonzero(np.asarray(targets.sum(axis=0)).ravel() > 0)
    targets, test_targets = targets[:, present], dataset.binarize(test.labels)[:, present]
    print(f"subsample: {len(train)} train docs, {present.size} labels with a positive; {len(test)} test docs")

    ours, ours_fit = fit_ours(train.texts, targets, args.n_jobs)
    ours_scores, ours_score_seconds = timed(ours.decision_function, test.texts)
    features = ours.vectorizer.transform(train.texts)
    test_features = ours.vectorizer.transform(test.texts)
    try:
        import libmultilabel.linear  # noqa: F401

        name = "LibMultiLabel train_1vsrest (LIBLINEAR -s 1, its own threads)"
        predict, other_fit = timed(fit_libmultilabel, features, targets)
    except ImportError as error:
        name = f"sklearn OneVsRestClassifier(LinearSVC), n_jobs={args.n_jobs} (LibMultiLabel: {error})"
        predict, other_fit = timed(fit_sklearn_ovr, features, targets, args.n_jobs)
    other_scores, other_score_seconds = timed(predict, test_features)
    # ours includes its TF-IDF fit; the alternative gets the features ready-made
    print(
        f"LinearBaseline (TF-IDF + fit, n_jobs={args.n_jobs}): fit {ours_fit:.1f} s, score {ours_score_seconds:.2f} s"
    )
    print(f"{name}: fit {other_fit:.1f} s, score {other_score_seconds:.2f} s")
    print(f"fit time ratio alternative / ours: {other_fit / ours_fit:.2f}")
    for label, scores in (("ours", ours_scores), ("alternative", other_scores)):
        result = evaluate(scores, test_targets, ks=(1, 5))
        print(f"  {label}: P@1 {100 * result['P@1']:.2f}  P@5 {100 * result['P@5']:.2f}")


def full_split_part(dataset, args) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    targets = dataset.binarize(dataset.train.labels).tocsc()
    counts = np.asarray(targets.sum(axis=0)).ravel()
    cpu = time.process_time()
    features = TfidfVectorizer(sublinear_tf=True).fit_transform(dataset.train.texts)
    tfidf_cpu = time.process_time() - cpu
    fittable = np.flatnonzero(counts > 0)
    chosen = np.random.default_rng(0).choice(fittable, size=args.full_labels, replace=False)
    model = LinearBaseline()
    cpu = time.process_time()
    model._fit_labels(features, targets[:, chosen])
    per_label = (time.process_time() - cpu) / chosen.size
    print(
        f"full train split: {features.shape[0]} docs x {features.shape[1]} features, {features.nnz} non-zeros"
    )
    print(
        f"  TF-IDF fit: {tfidf_cpu:.1f} CPU s; LinearSVC: {per_label:.2f} CPU s per label ({chosen.size} labels)"
    )
    print(
        f"  projected one-vs-rest fit over {fittable.size} labels: {per_label * fittable.size / 60:.0f} CPU min"
    )


def evaluation_part(dataset) -> None:
    targets = dataset.binarize(dataset.test.labels)
    counts = np.asarray(dataset.binarize(dataset.train.labels).sum(axis=0)).ravel()
    scores = np.random.default_rng(1).random(targets.shape, dtype=np.float32)
    ours, ours_seconds = timed(evaluate, scores, targets, threshold=0.5, label_counts=counts)
    _, ungrouped_seconds = timed(evaluate, scores, targets, threshold=0.5)
    naive, naive_seconds = timed(naive_evaluate, scores, sp.csr_matrix(targets))
    assert all(abs(ours[key] - value) < 1e-9 for key, value in naive.items())
    print(f"evaluate on {targets.shape[0]} x {targets.shape[1]} (sparse targets):")
    print(f"  evaluate, all metrics + frequent/few/zero groups: {ours_seconds:.2f} s")
    print(f"  evaluate, all metrics, no groups: {ungrouped_seconds:.2f} s")
    print(f"  naive full argsort (P@k, nDCG@k only): {naive_seconds:.2f} s")
    print(f"  ratio naive / evaluate without groups: {naive_seconds / ungrouped_seconds:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-docs", type=int, default=3000)
    parser.add_argument("--test-docs", type=int, default=1000)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument(
        "--full-labels", type=int, default=16, help="labels fitted on the full split (0: skip)"
    )
    parser.add_argument("--libmultilabel-path", type=Path, default=None)
    args = parser.parse_args()
    if args.libmultilabel_path is not None:
        sys.path.append(str(args.libmultilabel_path))
    warnings.filterwarnings("ignore", category=FutureWarning)
    dataset = load_dataset("eurlex57k")
    print(f"machine: {os.cpu_count()} CPU cores")
    linear_part(dataset, args)
    if args.full_labels:
        full_split_part(dataset, args)
    evaluation_part(dataset)


if __name__ == "__main__":
    main()

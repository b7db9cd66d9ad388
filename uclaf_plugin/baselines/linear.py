"""TF-IDF + one-vs-rest linear baseline (LIBLINEAR-style), ranking labels by decision scores.

Features follow LibMultiLabel's linear pipeline (scikit-learn ``TfidfVectorizer``, L2-normalised rows) with
sublinear term frequency; each label gets its own ``LinearSVC`` (squared hinge, L2, the LIBLINEAR ``-s 2``
default; solved in the dual, LIBLINEAR ``-s 1``, for these many-feature sparse problems) or
``LogisticRegression`` (liblinear solver): LibMultiLabel's ``1vsrest``. Word unigrams are the default: adding
bigrams at C=1 lowered P@1 on both Reuters ModApte-90 (94.4 -> 93.4) and AAPD (69.7 -> 66.1).

Scale (EURLEX57K: 45,000 documents, 75k features, 4,108 labels with a positive): the labels are fitted in chunks
on ``n_jobs`` threads (LIBLINEAR releases the GIL while it solves) over one shared sparse feature matrix, labels
without a positive or without a negative are not fitted (constant scores), and the weights are kept as one
sparse ``(features, labels)`` float32 matrix (a dual solution is zero on every feature outside its support
vectors), so scoring is one sparse product. ``benchmarks/linear_speed.py`` times it against LibMultiLabel.

``save``/``load`` use joblib (pickle): load only files you trust.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

ESTIMATORS = ("svm", "logreg")
MODEL_FILE = "linear_baseline.joblib"
LABELS_PER_TASK = 32
# Scores of labels that cannot be fitted: no positive (ranked last) or no negative training example (first).
NEVER_POSITIVE_SCORE = -1e9
ALWAYS_POSITIVE_SCORE = 1e9


class LinearBaseline:
    """TF-IDF features and one binary linear classifier per label.

    Args:
        estimator: ``"svm"`` (``LinearSVC``) or ``"logreg"`` (``LogisticRegression``, liblinear solver).
        C: inverse regularisation strength of every binary classifier.
        ngram_range, min_df, max_features, sublinear_tf: passed to ``TfidfVectorizer``.
        n_jobs: threads fitting labels in parallel (joblib; -1: every core). Changes the speed; the weights agree
            up to the solver's tolerance (LIBLINEAR's coordinate order uses one C random state shared by threads).
        verbose: joblib progress messages on stderr while fitting (0: none).
    """

    def __init__(
        self,
        estimator: str = "svm",
        C: float = 1.0,
        ngram_range: tuple[int, int] = (1, 1),
        min_df: int | float = 1,
        max_features: int | None = None,
        sublinear_tf: bool = True,
        n_jobs: int | None = -1,
        verbose: int = 0,
    ) -> None:
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator={estimator!r} is not supported; use one of {', '.join(ESTIMATORS)}")
        if C <= 0:
            raise ValueError(f"C must be positive, got {C}")
        self.params = dict(
            estimator=estimator,
            C=C,
            ngram_range=tuple(ngram_range),
            min_df=min_df,
            max_features=max_features,
            sublinear_tf=sublinear_tf,
        )
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.vectorizer: TfidfVectorizer | None = None
        self.weights: sp.csr_matrix | None = None  # (features, fitted labels)
        self.intercepts: np.ndarray | None = None  # (fitted labels,)
        self.fitted_labels: np.ndarray | None = None
        self.constant_scores: np.ndarray | None = None

    def fit(self, texts: Sequence[str], Y: Any) -> LinearBaseline:
        """Fit on ``texts`` and multi-hot targets ``Y`` (dense or scipy sparse, shape ``(len(texts), L)``).

        Raises ValueError when ``Y`` has the wrong shape, is not 0/1, or has no label with both a positive
        and a negative document.
        """
        targets = _as_binary_csc(Y, len(texts))
        positives = np.asarray(targets.sum(axis=0)).ravel()
        fittable = (positives > 0) & (positives < targets.shape[0])
        if not fittable.any():
            raise ValueError(
                "Y has no label with both positive and negative examples; nothing can be learned"
            )
        self.vectorizer = TfidfVectorizer(
            ngram_range=self.params["ngram_range"],
            min_df=self.params["min_df"],
            max_features=self.params["max_features"],
            sublinear_tf=self.params["sublinear_tf"],
            dtype=np.float64,
        )
        features = self.vectorizer.fit_transform(texts).tocsr()
        self.fitted_labels = np.flatnonzero(fittable)
        self.constant_scores = np.where(positives > 0, ALWAYS_POSITIVE_SCORE, NEVER_POSITIVE_SCORE)
        chunks = [
            self.fitted_labels[start : start + LABELS_PER_TASK]
            for start in range(0, self.fitted_labels.size, LABELS_PER_TASK)
        ]
        parts = joblib.Parallel(n_jobs=self.n_jobs, prefer="threads", verbose=self.verbose)(
            joblib.delayed(self._fit_labels)(features, targets[:, chunk]) for chunk in chunks
        )
        self.weights = sp.hstack([weights for weights, _ in parts], format="csr", dtype=np.float32)
        self.intercepts = np.concatenate([intercepts for _, intercepts in parts])
        return self

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Scores ``(len(texts), L)`` float32; higher means more likely. Unfittable labels get a constant score."""
        if self.weights is None:
            raise RuntimeError(
                "LinearBaseline is not fitted; call fit(texts, Y) or LinearBaseline.load(dir) first"
            )
        features = self.vectorizer.transform(texts).astype(np.float32)
        scores = np.tile(self.constant_scores.astype(np.float32), (features.shape[0], 1))
        scores[:, self.fitted_labels] = (features @ self.weights).toarray() + self.intercepts
        return scores

    def save(self, directory: str | Path) -> Path:
        """Write the fitted model to ``directory/linear_baseline.joblib`` (a pickle) and return that path."""
        if self.weights is None:
            raise RuntimeError("LinearBaseline is not fitted; nothing to save")
        path = Path(directory) / MODEL_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.__dict__, path)
        return path

    @classmethod
    def load(cls, directory: str | Path) -> LinearBaseline:
        """Load a model written by :meth:`save` (unpickles: trusted files only)."""
        path = Path(directory) / MODEL_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; pass the folder that LinearBaseline.save wrote")
        baseline = cls.__new__(cls)
        baseline.__dict__.update(joblib.load(path))
        return baseline

    def _fit_labels(
        self, features: sp.csr_matrix, targets: sp.csc_matrix
    ) -> tuple[sp.csc_matrix, np.ndarray]:
        """One binary classifier per column of ``targets``: sparse weights ``(features, c)`` and intercepts."""
        columns, intercepts = [], np.zeros(targets.shape[1], dtype=np.float32)
        for j in range(targets.shape[1]):
            classifier = self._binary_classifier().fit(features, targets[:, j].toarray().ravel())
            columns.append(sp.csc_matrix(classifier.coef_.astype(np.float32).reshape(-1, 1)))
            intercepts[j] = classifier.intercept_[0]
        return sp.hstack(columns, format="csc"), intercepts

    def _binary_classifier(self) -> LinearSVC | LogisticRegression:
        if self.params["estimator"] == "svm":
            return LinearSVC(C=self.params["C"], dual=True, random_state=0)
        return LogisticRegression(C=self.params["C"], solver="liblinear", random_state=0)


def _as_binary_csc(Y: Any, num_docs: int) -> sp.csc_matrix:
    matrix = Y if sp.issparse(Y) else np.asarray(Y)
    if matrix.ndim != 2 or matrix.shape[0] != num_docs:
        raise ValueError(f"Y must have shape (len(texts)={num_docs}, num_labels), got {matrix.shape}")
    targets = sp.csc_matrix(matrix)
    if not np.isin(targets.data, (0, 1)).all():
        raise ValueError("Y must be multi-hot: every entry 0 or 1")
    return targets.astype(np.int8)

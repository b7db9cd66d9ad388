"""UCLAF inside other toolkits: :mod:`.sklearn` (a scikit-learn / scikit-multilearn estimator) and
:mod:`.libmultilabel` (LibMultiLabel networks)."""

"""Baselines outside the neural model: :mod:`.linear`, TF-IDF with one-vs-rest linear models."""

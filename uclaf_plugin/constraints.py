"""Declared constraints on settings, checked in one place (scikit-learn's ``_parameter_constraints`` pattern).

A settings class lists, once, what each of its settings accepts: ``{"temperature": [Interval(0, None,
closed="neither")], "label_init": [None, Options(("names",))]}``. :func:`check_settings` checks any mapping of
values against such a table and raises one ``ValueError`` per bad value, naming the setting, what it accepts and
what it got. ``ModelConfig`` and ``TrainConfig`` check themselves with it; the run spec checks command-line values
against the same tables, naming the options as they are typed (``--temperature``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Integral, Real


@dataclass(frozen=True)
class Interval:
    """A real (or, with ``integer=True``, an integer) between ``low`` and ``high`` (``None``: unbounded).

    ``closed``: ``"both"``, ``"left"``, ``"right"`` or ``"neither"``: which ends belong to the interval.
    """

    low: float | None = None
    high: float | None = None
    closed: str = "both"
    integer: bool = False

    def accepts(self, value) -> bool:
        kind = Integral if self.integer else Real
        if isinstance(value, bool) or not isinstance(value, kind) or math.isnan(value):
            return False
        low_ok = (
            self.low is None or value > self.low or (value == self.low and self.closed in ("both", "left"))
        )
        high_ok = (
            self.high is None
            or value < self.high
            or (value == self.high and self.closed in ("both", "right"))
        )
        return low_ok and high_ok

    def __str__(self) -> str:
        kind = "an integer" if self.integer else "a number"
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"{kind} in {left}{low}, {high}{right}"


@dataclass(frozen=True)
class Options:
    """One of ``values``."""

    values: tuple

    def accepts(self, value) -> bool:
        return isinstance(value, str | int | float | bool) and value in self.values

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(value) for value in self.values)


def describe(constraints: list) -> str:
    """What a constraint list accepts, in words: ``"None or one of 'names'"``."""
    return " or ".join("None" if constraint is None else str(constraint) for constraint in constraints)


def check_settings(
    values: Mapping, constraints: Mapping[str, list], display: Callable[[str], str] = str
) -> None:
    """Raise ``ValueError`` for the first value of ``values`` that no constraint of its setting accepts.

    ``constraints``: setting name -> list of :class:`Interval`, :class:`Options` or ``None`` (accepts ``None``);
    settings without an entry are not checked. ``display`` turns a setting's name into the name the message
    uses (e.g. ``"lambda_"`` -> ``"--lambda"``).
    """
    for name, value in values.items():
        accepted = constraints.get(name)
        if accepted is None:
            continue
        if any(value is None if constraint is None else constraint.accepts(value) for constraint in accepted):
            continue
        raise ValueError(f"{display(name)} must be {describe(accepted)}, got {value!r}")

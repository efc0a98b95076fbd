"""The estimates every result file reports, typed: a score over folds with its interval
(:class:`Interval`), a paired difference (:class:`Difference`) and a named comparison of two
models (:class:`Comparison`).

The report formats them with :mod:`ephys2type.evaluation.stats`, which reads plain
mappings; ``as_dict`` gives each estimate in that shape, so the wording of a number is
written once, in the evaluation layer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Interval:
    """A score over folds (a proportion): mean, SD and 95% interval (None where undefined,
    e.g. a single fit)."""

    mean: float
    sd: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> Interval | None:
        """The interval of a ``{"mean", "sd", "ci_low", "ci_high"}`` block; None if absent."""
        if not raw:
            return None
        return cls(raw["mean"], raw.get("sd"), raw.get("ci_low"), raw.get("ci_high"))

    def as_dict(self) -> dict[str, float | None]:
        """What :func:`ephys2type.evaluation.stats.format_summary` reads."""
        return {"mean": self.mean, "sd": self.sd, "ci_low": self.ci_low, "ci_high": self.ci_high}


@dataclass(frozen=True)
class Difference:
    """A paired difference on identical folds: mean, 95% interval and p (None where a single
    fit gives no interval), and each side's mean on those folds (None in results written
    before they were recorded)."""

    mean_diff: float
    ci_low: float | None
    ci_high: float | None
    p: float | None
    t: float | None = None
    n_folds: int | None = None
    mean_a: float | None = None
    mean_b: float | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Difference:
        return cls(**_difference_fields(raw))

    def as_dict(self) -> dict[str, float | None]:
        """What :func:`ephys2type.evaluation.stats.format_difference` reads."""
        return {
            "mean_diff": self.mean_diff,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p": self.p,
        }


@dataclass(frozen=True, kw_only=True)
class Comparison(Difference):
    """``a - b`` in one metric, paired on identical folds (for a transfer gain, ``a`` is the
    transfer arm and ``b`` its target-only reference; for the training-set comparison,
    ``dataset`` is the dataset whose cells were scored)."""

    a: str
    b: str
    metric: str
    dataset: str | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Comparison:
        return cls(
            **_difference_fields(raw),
            a=raw["a"],
            b=raw["b"],
            metric=raw["metric"],
            dataset=raw.get("dataset"),
        )

    def flipped(self) -> Comparison:
        """``b - a``: the same comparison read the other way."""

        def neg(value: float | None) -> float | None:
            return None if value is None else -value

        return replace(
            self,
            a=self.b,
            b=self.a,
            mean_diff=-self.mean_diff,
            ci_low=neg(self.ci_high),
            ci_high=neg(self.ci_low),
            t=neg(self.t),
            mean_a=self.mean_b,
            mean_b=self.mean_a,
        )


def find_comparison(
    comparisons: tuple[Comparison, ...], a: str, b: str, metric: str
) -> Comparison | None:
    """``a - b`` in ``metric`` among ``comparisons`` (read the other way if stored as
    ``b - a``); None if the two were not compared."""
    for c in comparisons:
        if c.metric == metric and {c.a, c.b} == {a, b}:
            return c if c.a == a else c.flipped()
    return None


def _difference_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "mean_diff": raw["mean_diff"],
        "ci_low": raw.get("ci_low"),
        "ci_high": raw.get("ci_high"),
        "p": raw.get("p"),
        "t": raw.get("t"),
        "n_folds": raw.get("n_folds"),
        "mean_a": number(raw.get("mean_a")),
        "mean_b": number(raw.get("mean_b")),
    }


def number(value: Any) -> float | None:
    """A stored figure, None where it is missing (not recorded, or NaN read back from a
    CSV or JSON)."""
    return None if value is None or not math.isfinite(float(value)) else float(value)

"""Rates with binomial standard errors, and the paper's metrics computed from an evaluation's log records.

- `success`: episodes that end in success (GP: a correct formula within verify_iter attempts; V-IRL: every
  movable point of the route answered correctly, i.e. the route completed).
- `step_accuracy`: scored model answers that were correct; every verification retry is a sample (V-IRL).
- `recognition`: GP-VL answers whose `cards` field names the hand (per hand); `card_accuracy`: the fraction of
  the hand's cards named (per card; the cards of one hand are not independent, so its standard error is an
  approximation).

Standard error: sqrt(p(1-p)/n), the paper's error bars.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping


@dataclass(frozen=True)
class Rate:
    hits: int
    n: int

    @property
    def rate(self) -> float | None:
        return self.hits / self.n if self.n else None

    @property
    def stderr(self) -> float | None:
        return binomial_stderr(self.hits / self.n, self.n) if self.n else None

    def as_dict(self) -> dict[str, Any]:
        return {"hits": self.hits, "n": self.n, "rate": self.rate, "stderr": self.stderr}


def binomial_stderr(p: float, n: int) -> float:
    """sqrt(p(1-p)/n)."""
    if n <= 0:
        raise ValueError("n must be positive")
    return math.sqrt(max(p * (1.0 - p), 0.0) / n)


def compute_metrics(steps: Iterable[Mapping[str, Any]], episodes: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every metric the records support, as `{name: Rate.as_dict()}`; absent when it has no sample."""
    step_list = [s for s in steps if s.get("scored", True)]
    episode_list = list(episodes)
    rates: dict[str, Rate] = {
        "success": Rate(sum(1 for e in episode_list if e.get("success")), len(episode_list)),
        "step_accuracy": Rate(sum(1 for s in step_list if s.get("correct")), len(step_list)),
    }
    recognised = [s for s in step_list if s.get("recognized_cards") is not None]
    if recognised:
        rates["recognition"] = Rate(sum(1 for s in recognised if s["recognized_cards"]), len(recognised))
        rates["card_accuracy"] = Rate(sum(int(s.get("cards_matched", 0)) for s in recognised),
                                      sum(int(s.get("cards_total", 0)) for s in recognised))
    return {name: rate.as_dict() for name, rate in rates.items() if rate.n}


def format_rate(metric: Mapping[str, Any] | None, digits: int = 1) -> str:
    """`"93.2 ± 1.6"` in percent, or `"-"`."""
    if not metric or metric.get("rate") is None:
        return "-"
    return f"{100 * metric['rate']:.{digits}f} ± {100 * metric['stderr']:.{digits}f}"


def format_fraction(rate: float | None, n: int | None, digits: int = 1) -> str:
    """A rate measured on `n` samples as `"14.6 ± 5.1"` (percent ± binomial s.e.); `"-"` when unmeasured."""
    if rate is None or not n or not math.isfinite(rate):
        return "-"
    return format_rate({"rate": rate, "stderr": binomial_stderr(rate, int(n))}, digits)


def format_number(value: Any, digits: int = 4) -> str:
    """`digits` significant digits (`0.1458`, `1.235e+06`); `"-"` for a missing or non-finite value."""
    if value is None or isinstance(value, bool):
        return "-" if value is None else str(value)
    if isinstance(value, (int, float)) and not math.isfinite(value):
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{float(value):.{digits}g}"


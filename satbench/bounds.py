"""One check of a number against its bounds, for run settings (satbench.config) and method options
(satbench.methods) alike: the same rules and the same one-line refusals for both."""

from __future__ import annotations

import math
from typing import Any

from .errors import ConfigError

INT64 = (-(2**63), 2**63 - 1)


def check_bounds(name: str, value: Any, minimum: float | None = None, maximum: float | None = None,
                 above: float | None = None, below: float | None = None, finite: bool = False) -> None:
    """A number against its bounds (``minimum``/``maximum`` inclusive, ``above``/``below`` exclusive; ``finite``
    refuses NaN and infinities): one :class:`ConfigError` line saying which, for run settings and method options
    alike (``name`` as the user knows it)."""
    bounded = any(bound is not None for bound in (minimum, maximum, above, below))
    if not (bounded or finite):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    # NaN passes every comparison and infinity most, so finiteness is checked first.
    if finite and not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        if (minimum, maximum) == INT64:
            raise ConfigError(f"{name} must fit in a signed 64-bit integer, got {value}")
        raise ConfigError(f"{name} must be at least {minimum:g}, got {value}" if minimum != 0 else
                          f"{name} must be non-negative, got {value}")
    if maximum is not None and value > maximum:
        if (minimum, maximum) == INT64:
            raise ConfigError(f"{name} must fit in a signed 64-bit integer, got {value}")
        raise ConfigError(f"{name} must be at most {maximum:g}, got {value}")
    if above is not None and not value > above:
        raise ConfigError(f"{name} must be greater than {above:g}, got {value}")
    if below is not None and not value < below:
        raise ConfigError(f"{name} must be below {below:g}, got {value}")

"""A ``--network`` value: ``RATE[,DELAY]`` in tc's units, parsed and checked without touching the network.

Settings and records name an emulated link by this text (``config.network``); :mod:`satbench.runtime.network` sets
the links up. The parsing lives here, below the runtime, so that checking a run's settings needs no runtime.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ConfigError

EXAMPLE = "expected RATE[,DELAY] in tc's units, e.g. 1gbit,200us, 100mbit or 20mbit,1ms"

# tc's rate units (tc(8), case-insensitive): bit/s multipliers. Note that tc's "bps" means bytes per second.
_RATE_UNITS = {"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12,
               "kibit": 2**10, "mibit": 2**20, "gibit": 2**30, "tibit": 2**40,
               "bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9, "tbps": 8e12,
               "kibps": 8 * 2**10, "mibps": 8 * 2**20, "gibps": 8 * 2**30, "tibps": 8 * 2**40}
# tc's time units: seconds multipliers.
_TIME_UNITS = {"s": 1, "sec": 1, "secs": 1, "ms": 1e-3, "msec": 1e-3, "msecs": 1e-3,
               "us": 1e-6, "usec": 1e-6, "usecs": 1e-6}
_QUANTITY = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)([a-z]+)$")
MIN_RATE_BIT_S = 1e3  # slower than 1 kbit/s no run finishes
MAX_RATE_BIT_S = 1e12
MAX_DELAY_S = 60.0


@dataclass(frozen=True)
class LinkSpec:
    """A parsed ``--network`` value."""

    rate: str  # tc spelling, lower case, e.g. "20mbit"
    rate_bit_s: float
    delay: str | None  # tc spelling, or None (no delay)
    delay_s: float

    @property
    def text(self) -> str:
        return self.rate if self.delay is None else f"{self.rate},{self.delay}"


def parse_network(text: str) -> LinkSpec:
    """``RATE[,DELAY]`` in tc's units -> LinkSpec; ConfigError with one line for anything else. Units are required
    (tc reads a bare number as bit/s or microseconds, which is never what is meant)."""

    def refuse(why: str) -> None:
        raise ConfigError(f"--network {text!r}: {why}; {EXAMPLE}")

    if not isinstance(text, str) or not text.strip():
        refuse("empty")
    parts = [part.strip().lower() for part in text.split(",")]
    if len(parts) > 2:
        refuse("more than one comma")

    def quantity(part: str, units: dict[str, float], what: str) -> float:
        match = _QUANTITY.match(part)
        if not match:
            refuse(f"{what} {part!r} is not a number with a unit")
        number, unit = match.groups()
        if unit not in units:
            refuse(f"unknown {what} unit {unit!r} (tc's: {', '.join(units)})")
        return float(number) * units[unit]

    rate_bit_s = quantity(parts[0], _RATE_UNITS, "rate")
    if not MIN_RATE_BIT_S <= rate_bit_s <= MAX_RATE_BIT_S:
        refuse("the rate must be between 1kbit and 1tbit")
    delay, delay_s = None, 0.0
    if len(parts) == 2:
        delay_s = quantity(parts[1], _TIME_UNITS, "delay")
        if delay_s > MAX_DELAY_S:
            refuse(f"the delay must be at most {MAX_DELAY_S:g}s")
        if delay_s > 0:
            delay = parts[1]
    return LinkSpec(parts[0], rate_bit_s, delay, delay_s)

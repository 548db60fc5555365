"""Method families as the report groups runs: what a record states, with older records' words mapped onto them.

A method is a ``reference`` (exact halo rows, or none: ``exact``, ``partition``), ``historical`` (cached halo rows of
its own protocol: GAS, PipeGCN, DIGEST, SANCUS, GraphFM) or an ``alleviation`` method (it corrects the stale rows of a
``base`` method it names: SAT and its variants, LMC, REST, the staleness-weighted pair). Records state the family of
their method (``method.family``); records written before families had these names said ``baseline`` (a reference for
exact and partition, else historical) or ``sat`` (alleviation), and version-1 records said nothing (then a named base
makes an alleviation method). Torch-free: the workflow plans with it too.
"""

from __future__ import annotations

from ..choices import ALLEVIATION, FAMILIES, HISTORICAL, REFERENCE  # declared once, beside the other names

# The references of records that did not say so: the two methods every grid compares against.
REFERENCE_METHODS = ("exact", "partition")
LEGACY_FAMILIES = {"sat": ALLEVIATION}  # "baseline": reference or historical, by the method's name


def family_of(declared: str | None, method: str, base: str | None = None) -> str:
    """The family of ``method`` as a record (or the registry) ``declared`` it, in the names above."""
    if declared in FAMILIES:
        return declared
    if declared in LEGACY_FAMILIES:
        return LEGACY_FAMILIES[declared]
    if declared is None and isinstance(base, str):
        return ALLEVIATION
    return REFERENCE if method in REFERENCE_METHODS else HISTORICAL

"""Probes by name: the built-in modules and those of entry-point group ``pytest_qfacts.probes``.

An entry point names a ``Probe`` object (``my_pkg.my_probe:PROBE``). The built-in order
below is the order of the report's blocks and of ``--qfacts-probes=all``.
"""
from __future__ import annotations

import importlib
from functools import cache

from pytest_qfacts.errors import QFactsUsageError

ENTRY_POINT_GROUP = "pytest_qfacts.probes"
#: built-in probes, recorded in the scoring forward ("all" means these, plus plug-in in-pass probes)
BUILTIN_IN_PASS = ("lens", "cka", "ffn", "attention", "svd", "neurons")
#: built-in probes that need passes of their own; run only when named
BUILTIN_EXTRA = ("patching",)
#: the probes the failure-mode verdict needs; they run by default
DEFAULT_PROBES = ("lens", "cka", "ffn")


@cache
def _plugins() -> dict:
    """Entry points of third-party probes, by name (loaded on first use of a name)."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BUILTIN_IN_PASS + BUILTIN_EXTRA}


@cache
def get_probe(name: str):
    """The ``Probe`` called ``name``; QFactsUsageError naming the known ones otherwise."""
    if name in BUILTIN_IN_PASS + BUILTIN_EXTRA:
        return importlib.import_module(f"pytest_qfacts.probes.{name}").PROBE
    entry = _plugins().get(name)
    if entry is None:
        raise QFactsUsageError(f"unknown probe '{name}'; known: {', '.join(known_names())}")
    probe = entry.load()
    if getattr(probe, "name", None) != name:
        raise QFactsUsageError(f"entry point '{name}' of group {ENTRY_POINT_GROUP} ({entry.value}) is not a Probe "
                               f"named '{name}'")
    return probe


def in_pass_names() -> tuple[str, ...]:
    """Every probe recorded in the scoring forward: the built-ins, then plug-ins by name."""
    return BUILTIN_IN_PASS + tuple(sorted(n for n in _plugins() if get_probe(n).in_pass))


def extra_names() -> tuple[str, ...]:
    return BUILTIN_EXTRA + tuple(sorted(n for n in _plugins() if not get_probe(n).in_pass))


def known_names() -> tuple[str, ...]:
    return BUILTIN_IN_PASS + BUILTIN_EXTRA + tuple(sorted(_plugins()))


def default_names() -> tuple[str, ...]:
    return DEFAULT_PROBES

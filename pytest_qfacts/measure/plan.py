"""The plan of one suite's measurement, decided before any model loads.

A ``Plan`` names the probes recorded in the scoring forward, the probes that need passes of
their own, whether the suite needs the two-hop pass, and the batch size; ``forwards(n)``
counts every forward pass it will run on one model (the cost printed before long work).
"""
from __future__ import annotations

from dataclasses import dataclass

from pytest_qfacts.probes.registry import get_probe


@dataclass(frozen=True)
class Plan:
    probes: tuple[str, ...]          # every probe asked for, in-pass and extra
    batch_size: int
    lens_facts: int                  # facts the logit lens covers (0 = all)
    twohop: bool = False             # two-hop suite: one more pass of 2 x N prompts (EntRec, CnstScore)

    @property
    def in_pass(self) -> tuple:
        return tuple(get_probe(name) for name in self.probes if get_probe(name).in_pass)

    @property
    def extra(self) -> tuple[str, ...]:
        return tuple(name for name in self.probes if not get_probe(name).in_pass)


def make_plan(suite, probes, *, batch_size: int, lens_facts: int) -> Plan:
    """The plan for ``suite`` with these probe names (validated by the probe registry)."""
    from pytest_qfacts.suites.twohop_suite import is_twohop

    for name in probes:
        get_probe(name)  # an unknown name is a usage error naming the known ones
    return Plan(tuple(probes), batch_size, lens_facts, twohop=is_twohop(suite))

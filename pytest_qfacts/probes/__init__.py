"""Probe plug-ins: one module per probe (``probes/<name>.py``), registered by name.

A probe declares what it records during the scoring forward (``Recording``: arrays and the
hooks that fill them), how its arrays are stored in a run record, how a pair of runs
becomes its report block (``compare``), the evidence it gives the failure-mode verdict,
and the assertion that reads its block. Third parties add probes through the entry-point
group ``pytest_qfacts.probes`` (see ``registry``).

Nothing here imports torch at module level: hook functions import it when they run.
"""
from pytest_qfacts.probes.base import Probe, ProbeBlock, Recording
from pytest_qfacts.probes.registry import default_names, extra_names, get_probe, in_pass_names, known_names

__all__ = ["Probe", "ProbeBlock", "Recording", "default_names", "extra_names", "get_probe", "in_pass_names",
           "known_names"]

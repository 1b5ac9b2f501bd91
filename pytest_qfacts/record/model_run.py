"""``ModelRun``: everything measured on one model for one suite and probe set, with its provenance.

A run record is what flows from the measuring step to the comparison, the gates and the
reports, and what ``store/runs.py`` writes to disk: a stored baseline *is* the reference's
``ModelRun``; ``--qfacts-save-runs DIR`` stores the quantized ones too. Nothing in it needs
the model: every later stage works from records alone (``qfacts gate``).

Contents:
  info     ``RunInfo``: model label and weights fingerprint, recipe and its quantization
           metadata, suite name and content hash, probes recorded, lens facts, device,
           dtype, batch size, library versions, tier, run id
  items    the scored prompts (``FactItem``), in ``Suite.items()`` order
  scores   ``FactScores``: per-prompt ranks, log-probs, top-k
  arrays   probe recordings by name (``resid_last``, ``gate_sign_subj``, ``twohop.entrec``,
           ``patching.ref_logit``...); each name belongs to the probe module that records
           it (``probes/<name>.py``), which also declares how it is stored
  meta     small JSON-ready values that go with the arrays (two-hop vocabulary size,
           patching layers and positions, ...)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import numpy as np

from pytest_qfacts.record.scores import FactScores
from pytest_qfacts.suites.schema import FactItem

#: version of the record layout (``store/runs.py`` refuses others, naming both)
RECORD_FORMAT = 1


@dataclass(frozen=True)
class RunInfo:
    """Where a run's numbers come from: enough to tell whether two runs are comparable."""

    model: str                       # model label (alias, hub id or path)
    suite: str                       # suite name
    suite_hash: str                  # Suite.content_hash()
    recipe: str | None = None        # quantization recipe; None for the reference
    fingerprint: str | None = None   # weights fingerprint of the reference model
    quant: dict = field(default_factory=dict, hash=False)      # backend metadata (library, bits, seconds...)
    probes: tuple[str, ...] = ()     # probes recorded (in-pass and extra)
    lens_facts: int = 0              # facts the logit lens covers (0 = all)
    dtype: str = ""
    device: str = ""
    batch_size: int = 0
    versions: dict = field(default_factory=dict, hash=False)   # torch, transformers, pytest-qfacts
    tier: str = "full"
    run_id: str = ""

    @property
    def role(self) -> str:
        """``reference`` or the recipe."""
        return self.recipe or "reference"

    def to_json(self) -> dict:
        out = asdict(self)
        out["probes"] = list(self.probes)
        return out

    @classmethod
    def from_json(cls, data: dict) -> RunInfo:
        """Build from a JSON header; unknown keys are ignored, missing required keys raise KeyError."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("model", "suite", "suite_hash"):
            if name not in values:
                raise KeyError(name)
        values["probes"] = tuple(values.get("probes", ()))
        return cls(**values)


def item_to_json(item: FactItem) -> dict:
    return {"relation": item.relation, "subject": item.subject, "object": item.object, "prompt": item.prompt,
            "aliases": list(item.aliases), "template_index": item.template_index,
            "subject_span": list(item.subject_span) if item.subject_span else None}


def item_from_json(data: dict) -> FactItem:
    span = data.get("subject_span")
    return FactItem(relation=data["relation"], subject=data.get("subject"), object=data["object"], prompt=data["prompt"],
                    aliases=tuple(data.get("aliases", ())), template_index=int(data.get("template_index", 0)),
                    subject_span=tuple(span) if span else None)


@dataclass
class ModelRun:
    """One model measured on one suite (see the module docstring)."""

    info: RunInfo
    items: list[FactItem]
    scores: FactScores
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)

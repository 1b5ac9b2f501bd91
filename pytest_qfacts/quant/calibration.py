"""Calibration text for the backends that quantize with data (GPTQ, AWQ).

Source: ``--qfacts-calibration=PATH`` or, by default, ``data/calibration.txt``
shipped with the package (about 18 KB of own-written generic prose, no named
people, places or organisations, so no fact of a built-in suite; no download).

* A ``.jsonl`` file holds one JSON object per line with a string field ``"text"``
  (blank lines are skipped); any other file is read as plain UTF-8 text.
* Samples: the documents are joined with a blank line, tokenized once without
  special tokens, and cut into consecutive, non-overlapping windows of
  ``length`` tokens; the first ``samples`` windows are used (fewer when the text
  is shorter; a last window shorter than ``length`` is kept when it has at least
  ``MIN_TOKENS``). The length is capped at the model's context
  (``max_position_embeddings``). Deterministic: same text, tokenizer, samples and
  length give the same windows.
* Only the text needed is read: documents are taken in file order until they hold
  ``samples * length * CHARS_PER_TOKEN`` characters.
* ``digest``: sha256 over (length, samples, the token ids of every window), part of
  the quantized-model cache key, so another text or setting never reuses an entry.

Leak check (``leaked_facts``): a fact leaks when its prompt followed by one of its
answers, ``prompt + " " + answer``, appears in the calibration text read (the text
the windows cover, and at most the rest of the last document read),
both compared case-insensitively with runs of whitespace collapsed to one space.
The quantizer would then have seen the answer, which flatters the quantized model.
"""
from __future__ import annotations

import hashlib
import json
import re
import warnings
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from pytest_qfacts.errors import QFactsUsageError

DEFAULT_SAMPLES = 16
DEFAULT_LENGTH = 256
MIN_TOKENS = 10          # GPTQModel drops shorter calibration rows
CHARS_PER_TOKEN = 8      # generous: English text averages about 4 characters per token


class CalibrationError(QFactsUsageError):
    """A calibration file that cannot be used; the message names the file, the line and what is accepted."""


class CalibrationLeakWarning(UserWarning):
    """The calibration text contains facts of a suite being scored (their answers leak into the quantizer)."""


def default_path() -> Path:
    return Path(str(files("pytest_qfacts.quant") / "data" / "calibration.txt"))


def read_documents(path: str | Path | None, max_chars: int | None = None,
                   option: str = "--qfacts-calibration") -> tuple[list[str], str]:
    """(documents, label) from ``path`` (None: the shipped default), at most about ``max_chars`` characters."""
    source = Path(path).expanduser() if path else default_path()
    label = str(source) if path else "built-in calibration.txt"
    if not source.is_file():
        raise CalibrationError(f"{option}: '{source}' is not a file; give a plain-text file "
                               f"or a .jsonl file with one {{\"text\": ...}} object per line")
    try:
        if source.suffix.lower() == ".jsonl":
            return _read_jsonl(source, max_chars), label
        with open(source, encoding="utf-8") as f:
            text = f.read(max_chars) if max_chars else f.read()
    except UnicodeDecodeError as err:
        raise CalibrationError(f"{source}: not UTF-8 text ({err.reason} at byte {err.start}); "
                               f"calibration files must be UTF-8 plain text or JSONL") from None
    if not text.strip():
        raise CalibrationError(f"{source}: the calibration file is empty; give some text")
    return [text], label


def _read_jsonl(source: Path, max_chars: int | None) -> list[str]:
    docs: list[str] = []
    total = 0
    with open(source, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{source}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise CalibrationError(f"{where}: not valid JSON ({err.msg}, column {err.colno}); each line of a "
                                       f".jsonl calibration file must be an object like {{\"text\": \"...\"}}") from None
            if not isinstance(record, dict) or "text" not in record:
                got = f"keys {', '.join(map(repr, record))}" if isinstance(record, dict) else type(record).__name__
                raise CalibrationError(f"{where}: field 'text' missing (got {got}); each line must be an object "
                                       f"with a string field \"text\"")
            if not isinstance(record["text"], str):
                raise CalibrationError(f"{where}: field 'text' must be a string, got {type(record['text']).__name__}")
            if record["text"].strip():
                docs.append(record["text"])
                total += len(record["text"])
            if max_chars and total >= max_chars:
                break
    if not docs:
        raise CalibrationError(f"{source}: no non-empty \"text\" field in any line; give at least one document")
    return docs


@dataclass
class Calibration:
    """What ``--qfacts-calibration*`` asked for; ``prepare(tokenizer)`` cuts the token windows (cached)."""

    path: str | None = None
    samples: int = DEFAULT_SAMPLES
    length: int = DEFAULT_LENGTH
    _prepared: dict = field(default_factory=dict, repr=False)
    _checked: set = field(default_factory=set, repr=False)

    def prepare(self, tokenizer, max_length: int | None = None) -> CalibrationSet:
        length = min(self.length, max_length) if max_length else self.length
        key = (id(tokenizer), length)
        if key not in self._prepared:
            docs, label = read_documents(self.path, self.samples * length * CHARS_PER_TOKEN)
            self._prepared[key] = token_windows(docs, tokenizer, self.samples, length, label)
        return self._prepared[key]

    def check_leaks(self, suite, recipe: str, tokenizer, max_length: int | None = None, progress=None) -> list:
        """The items of ``suite`` that leak into this calibration text (see ``leaked_facts``); warns
        (``CalibrationLeakWarning`` and a progress line) once per calibration text and suite."""
        prepared = self.prepare(tokenizer, max_length)
        key = (prepared.digest, suite.content_hash())
        if key in self._checked:
            return []
        self._checked.add(key)
        leaked = leaked_facts(prepared.text, suite.items())
        if leaked:
            shown = "; ".join(f"'{it.prompt} {it.object}'" for it in leaked[:3])
            message = (f"the calibration text ({prepared.label}) used for {recipe} contains {len(leaked)} "
                       f"fact(s) of suite '{suite.name}', e.g. {shown}: the quantizer saw their answers, which "
                       f"flatters the quantized model; calibrate on text without them (--qfacts-calibration)")
            if progress is not None:
                progress.note(message)
            warnings.warn(CalibrationLeakWarning(f"qfacts: {message}"), stacklevel=2)
        return leaked


@dataclass(frozen=True)
class CalibrationSet:
    """Token windows ready for a quantizer: ``rows`` are lists of token ids."""

    rows: tuple[tuple[int, ...], ...]
    length: int
    label: str
    text: str      # the text read, which the windows cover (for the leak check)
    digest: str

    def as_gptqmodel(self) -> list[dict]:
        return [{"input_ids": list(r), "attention_mask": [1] * len(r)} for r in self.rows]

    def describe(self) -> dict:
        return {"source": self.label, "samples": len(self.rows), "length": self.length,
                "tokens": sum(len(r) for r in self.rows), "digest": self.digest}


def token_windows(documents: list[str], tokenizer, samples: int, length: int, label: str = "") -> CalibrationSet:
    """Cut the joined documents into ``samples`` windows of ``length`` tokens (see the module docstring)."""
    text = "\n\n".join(documents)
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    rows: list[tuple[int, ...]] = []
    for start in range(0, len(ids), length):
        window = ids[start:start + length]
        if len(window) < min(MIN_TOKENS, length) or len(rows) == samples:
            break
        rows.append(tuple(window))
    if not rows:
        raise CalibrationError(f"calibration text {label or ''} has {len(ids)} token(s), fewer than the "
                               f"{min(MIN_TOKENS, length)} one sample needs; give a longer text")
    h = hashlib.sha256(f"{length}:{len(rows)}".encode())
    for r in rows:
        h.update(",".join(map(str, r)).encode() + b";")
    return CalibrationSet(tuple(rows), length, label, text, h.hexdigest()[:16])


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def leaked_facts(text: str, items) -> list:
    """The items whose ``prompt + " " + answer`` (any answer) appears in ``text`` (normalized, see module doc)."""
    haystack = _normalize(text)
    return [item for item in items
            if any(_normalize(f"{item.prompt} {answer}") in haystack for answer in item.answers)]

"""Read the TwoHopFact CSV (Yang et al. 2024, ``google-deepmind/latent-multi-hop-reasoning``) as a two-hop suite.

The CSV is not shipped (about 91 MB, CC-BY 4.0); users who have it pass its path. Columns
read (others are ignored):

  required  fact_comp_type, e1.value, e2.value, e3.value, r1(e1).prompt, r2(e2).prompt, r2(r1(e1)).prompt
  optional  uid, r1.category, r2.category, e2.aliases, e3.aliases, r2(r1(e1)).subject_cut.prompt

One composition per ``fact_comp_type`` (rows in file order). Alias cells are Python
literals (a list of strings, or a list of lists of strings), parsed with
``ast.literal_eval`` (literals only, nothing runs). The descriptive mention of e2 ends
where ``r2(r1(e1)).subject_cut.prompt`` ends when that column is there; it starts where
the first hop's words up to e1 (``r1(e1).prompt`` cut after e1, e.g. "the singer of
'Superstition'") occur in the two-hop prompt, else where e1 starts; without the cut column
it ends after e1 and any closing quote or bracket right after it. Errors name the file,
the line, the column and the row's uid.
"""
from __future__ import annotations

import ast
import csv
import io
from pathlib import Path

from ..errors import SuiteError
from .schema import evenly_spaced
from .twohop_suite import Composition, TwoHopItem, TwoHopSuite

REQUIRED = ("fact_comp_type", "e1.value", "e2.value", "e3.value", "r1(e1).prompt", "r2(e2).prompt", "r2(r1(e1)).prompt")
SUBJECT_CUT = "r2(r1(e1)).subject_cut.prompt"
_CLOSING = "'\"\u2019\u201d)]"


def _aliases(cell: str, error) -> tuple[str, ...]:
    if not cell.strip():
        return ()
    try:
        value = ast.literal_eval(cell)
    except (ValueError, SyntaxError):
        raise error("not a Python literal list of strings, e.g. \"['NYC', 'New York']\"") from None
    flat: list[str] = []
    stack = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
    if stack is None:
        raise error(f"expected a list of strings (or of lists of strings), got {type(value).__name__}")
    for entry in stack:
        for alias in ([entry] if isinstance(entry, str) else entry if isinstance(entry, (list, tuple)) else [None]):
            if not isinstance(alias, str):
                raise error(f"expected a list of strings (or of lists of strings), got an entry {alias!r}")
            if alias.strip() and alias not in flat:
                flat.append(alias)
    return tuple(flat)


def _span(row: dict, two_hop: str, error) -> tuple[int, int]:
    e1 = row["e1.value"]
    cut = (row.get(SUBJECT_CUT) or "").rstrip()
    if cut and not two_hop.startswith(cut):
        raise error(f"{cut!r} is not the start of the two-hop prompt {two_hop!r}", SUBJECT_CUT)
    first_hop = row["r1(e1).prompt"]
    at = first_hop.lower().find(e1.lower())
    stem = first_hop[:at + len(e1)] if at >= 0 else ""
    start = two_hop.lower().find(stem.lower()) if stem else -1
    natural_end = start + len(stem)
    if start < 0:
        start = two_hop.lower().find(e1.lower())
        natural_end = start + len(e1)
    if start < 0:
        raise error(f"e1 {e1!r} does not occur in the two-hop prompt {two_hop!r}; the mention of e2 cannot be located",
                    "r2(r1(e1)).prompt")
    while natural_end < len(two_hop) and two_hop[natural_end] in _CLOSING:  # "'Superstition'": keep the quote
        natural_end += 1
    end = len(cut) if cut else natural_end
    if end <= start:
        raise error(f"the subject cut ends (offset {end}) before the mention starts (offset {start})", SUBJECT_CUT)
    return start, end


def load_twohop_fact_csv(path: str | Path, max_per_composition: int | None = None) -> TwoHopSuite:
    """The suite ``twohop-fact`` from a TwoHopFact CSV (see the module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise SuiteError("TwoHopFact CSV not found; expected the path of TwoHopFact.csv", path=str(path))
    text = p.read_bytes().decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise SuiteError(f"missing column(s) {', '.join(missing)}; a TwoHopFact CSV has {', '.join(REQUIRED)}",
                         path=str(path), line=1)
    groups: dict[str, list[TwoHopItem]] = {}
    relations: dict[str, tuple[str, str]] = {}
    line = reader.line_num
    for row in reader:
        row_line, line = line + 1, reader.line_num
        uid = row.get("uid") or f"row {row_line}"

        def error(message, column=None, _line=row_line, _uid=uid):
            return SuiteError(f"row {_uid}: {message}", path=str(path), line=_line, field=column)

        for column in REQUIRED:
            if not (row.get(column) or "").strip():
                raise error("empty; every row needs " + ", ".join(REQUIRED), column)
        comp = row["fact_comp_type"]
        r1 = row.get("r1.category") or comp.split("-")[0] or "r1"
        r2 = row.get("r2.category") or comp
        relations.setdefault(comp, (r1, r2))
        two_hop = row["r2(r1(e1)).prompt"]
        e2_aliases = _aliases(row.get("e2.aliases") or "", lambda m, c="e2.aliases": error(m, c))
        e3_aliases = _aliases(row.get("e3.aliases") or "", lambda m, c="e3.aliases": error(m, c))
        groups.setdefault(comp, []).append(TwoHopItem(
            comp, *relations[comp], row["e1.value"], row["e2.value"], row["e3.value"], row["r1(e1).prompt"],
            row["r2(e2).prompt"], two_hop, _span(row, two_hop, error),
            tuple(a for a in e2_aliases if a != row["e2.value"]), tuple(a for a in e3_aliases if a != row["e3.value"]),
            "mention_end", row_line))
    if not groups:
        raise SuiteError("the CSV has a header but no rows", path=str(path))
    comps = []
    for name, items in groups.items():
        comps.append(Composition(name, *relations[name], tuple(evenly_spaced(items, max_per_composition))))
    return TwoHopSuite.build("twohop-fact", comps, {}, str(path), 1,
                             "TwoHopFact (Yang et al. 2024), read from its CSV")

"""Read the LRE relation JSON files (Hernandez et al., ``evandez/relations``) as suites.

One file -> suite ``lre-<stem>`` with one relation ``<stem>``. Templates use
``{}`` for the subject (rewritten to ``{subject}``); literal ``\\uXXXX`` sequences
left in some strings are decoded; several objects for one subject become one
fact whose first object is the answer and the others its aliases.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import SuiteError
from .schema import Fact, Relation, Suite

TEMPLATE_KEYS = ("prompt_templates", "prompt_templates_zs")
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})")


def decode_escapes(text: str) -> str:
    """Decode literal ``\\uXXXX`` (and ``\\UXXXXXXXX``) sequences: ``Bras\\u00edlia`` -> ``Brasília``."""
    if "\\" not in text:
        return text
    out = _ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), text)
    try:  # join UTF-16 surrogate pairs written as two \uXXXX escapes
        return out.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeError:
        return out


def load_lre_file(path: str | Path, templates: str = "prompt_templates") -> Suite:
    """Load one LRE relation file; ``templates`` picks ``prompt_templates`` or ``prompt_templates_zs``."""
    p = Path(path)
    if not p.exists():
        raise SuiteError("LRE file not found; expected a path to an existing LRE relation .json file", path=str(path))
    if p.is_dir():
        raise SuiteError("is a directory; expected an LRE relation .json file", path=str(path))
    try:
        data = json.loads(p.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise SuiteError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=str(path)) from None
    except json.JSONDecodeError as exc:
        raise SuiteError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                         path=str(path), line=exc.lineno) from None
    except OSError as exc:
        raise SuiteError(f"cannot read file: {exc.strerror or exc}", path=str(path)) from None
    return lre_suite_from_data(data, stem=p.stem, source=str(path), templates=templates)


def lre_suite_from_data(data: object, stem: str, source: str = "<lre>", templates: str = "prompt_templates") -> Suite:
    """Build the suite from an already parsed LRE JSON object."""
    if templates not in TEMPLATE_KEYS:
        raise SuiteError(f"unknown LRE template set {templates!r}; accepted: {', '.join(TEMPLATE_KEYS)}",
                         path=source, field="templates")
    if not isinstance(data, dict):
        raise SuiteError(f"not an LRE relation file: expected a JSON object with keys {templates}, samples; "
                         f"got {type(data).__name__}", path=source)
    for key in (templates, "samples"):
        if key not in data:
            raise SuiteError(f"not an LRE relation file: missing key '{key}'; an LRE file has name, "
                             "prompt_templates, prompt_templates_zs, properties, samples", path=source, field=key)
    rel_templates = _templates(data[templates], source, templates)
    facts = _facts(data["samples"], source)
    if not facts:
        raise SuiteError("LRE file has no facts: 'samples' is empty", path=source, field="samples")
    props = data.get("properties")
    props = props if isinstance(props, dict) else {}
    title = data.get("name") if isinstance(data.get("name"), str) else stem
    desc = f"LRE relation '{title}'"
    if props.get("domain_name") and props.get("range_name"):
        desc += f" ({props['domain_name']} -> {props['range_name']})"
    desc += ", from evandez/relations (Hernandez et al., 2023)"
    relation = Relation(stem, rel_templates, tuple(facts))
    return Suite(f"lre-{stem}", (relation,), {}, source, 1, desc)


def _templates(value: object, source: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise SuiteError("expected a non-empty list of template strings with one {} for the subject",
                         path=source, field=key)
    out: list[str] = []
    for i, t in enumerate(value):
        if not isinstance(t, str) or t.count("{}") != 1:
            raise SuiteError(f"template {t!r} must be a string with exactly one {{}} for the subject",
                             path=source, field=f"{key}[{i}]")
        converted = decode_escapes(t).replace("{}", "{subject}")
        if converted not in out:
            out.append(converted)
    return tuple(out)


def _facts(samples: object, source: str) -> list[Fact]:
    if not isinstance(samples, list):
        raise SuiteError(f"expected a list of {{subject, object}} objects, got {type(samples).__name__}",
                         path=source, field="samples")
    objects: dict[str, list[str]] = {}
    for i, sample in enumerate(samples):
        if not isinstance(sample, dict):
            raise SuiteError(f"expected an object with keys subject, object, got {type(sample).__name__}",
                             path=source, field=f"samples[{i}]")
        values = []
        for key in ("subject", "object"):
            value = sample.get(key)
            if key not in sample:
                raise SuiteError(f"missing key '{key}'; each sample needs subject and object",
                                 path=source, field=f"samples[{i}].{key}")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str) or not value.strip():
                raise SuiteError(f"expected a non-empty string, got {value!r}", path=source, field=f"samples[{i}].{key}")
            values.append(decode_escapes(value))
        subject, obj = values
        answers = objects.setdefault(subject, [])
        if obj not in answers:
            answers.append(obj)
    return [Fact(answers[0], subject, None, tuple(answers[1:])) for subject, answers in objects.items()]

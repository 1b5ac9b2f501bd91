"""An object (or alias) outside a word-level tokenizer's vocabulary is refused, not scored as the unknown token.

tiny-facts has a word-level tokenizer: "Paris" is not in its vocabulary and becomes "[UNK]" (id 1), the
token every unknown word shares (issue 11). The refusal names the relation, the subject, the object
and the unknown word.
"""
from __future__ import annotations

import functools

import pytest

from pytest_qfacts.errors import QFactsUsageError
from pytest_qfacts.scoring.encode import encode_item
from pytest_qfacts.suites import load_suite, load_suite_text

UNKNOWN = "Paris"        # not a tiny-facts word
UNKNOWN_ID = 1           # tiny-facts' "[UNK]"


@functools.lru_cache(maxsize=None)
def tiny_fact() -> tuple[str, str, str, str]:
    """(relation, template, subject, object) of the first tiny-facts one-hop fact."""
    rel = load_suite("tiny-facts-onehop").relations[0]
    return rel.name, rel.templates[0], rel.facts[0].subject, rel.facts[0].object


def suite_text(obj: str, aliases: tuple[str, ...] = ()) -> str:
    relation, template, subject, _ = tiny_fact()
    alias_list = f", aliases: [{', '.join(aliases)}]" if aliases else ""
    return (f"qfacts: 1\nname: unknown\nrelations:\n  - name: {relation}\n    templates: [\"{template}\"]\n"
            f"    facts: [{{subject: {subject}, object: {obj}{alias_list}}}]\n")


def message(label: str, word: str, remove: str) -> str:
    relation, _, subject, _ = tiny_fact()
    return (f"relation '{relation}', subject '{subject}': {label} is not in the tokenizer's vocabulary ('{word}' "
            f"becomes its unknown token '[UNK]', id {UNKNOWN_ID}, which every unknown word shares), so it cannot be "
            f"scored; use words the tokenizer knows, or remove {remove}")


def encode(tokenizer, text: str):
    (item,) = load_suite_text(text).items()
    return encode_item(tokenizer, item)


def test_unknown_object_is_refused(tiny_facts):
    with pytest.raises(QFactsUsageError) as info:
        encode(tiny_facts.tokenizer, suite_text(UNKNOWN))
    assert str(info.value) == message(f"object '{UNKNOWN}'", UNKNOWN, "the fact")


def test_object_with_one_unknown_word_names_that_word(tiny_facts):
    known = tiny_fact()[3]
    with pytest.raises(QFactsUsageError) as info:
        encode(tiny_facts.tokenizer, suite_text(f"{known} {UNKNOWN}"))
    assert str(info.value) == message(f"object '{known} {UNKNOWN}'", UNKNOWN, "the fact")


def test_unknown_alias_is_refused_naming_the_alias(tiny_facts):
    known = tiny_fact()[3]
    with pytest.raises(QFactsUsageError) as info:
        encode(tiny_facts.tokenizer, suite_text(known, aliases=(UNKNOWN,)))
    assert str(info.value) == message(f"alias '{UNKNOWN}' of object '{known}'", UNKNOWN, "the alias")


def test_known_object_is_encoded(tiny_facts):
    encoded = encode(tiny_facts.tokenizer, suite_text(tiny_fact()[3]))
    assert len(encoded.object_ids) == 1 and UNKNOWN_ID not in encoded.object_ids


def test_plugin_run_errors_with_the_message_not_a_traceback(pytester):
    pytester.makefile(".qfacts.yaml", unknown=suite_text(UNKNOWN))
    result = pytester.runpytest_subprocess("--qfacts-model=tiny-facts", "--qfacts-device=cpu",
                                           "--qfacts-quant=rtn-w8g64", "-p", "no:cacheprovider")
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) == 1 and "passed" not in outcomes, outcomes
    assert message(f"object '{UNKNOWN}'", UNKNOWN, "the fact") in result.stdout.lines  # the whole report of the item
    assert "Traceback" not in output and "encode.py" not in output, output

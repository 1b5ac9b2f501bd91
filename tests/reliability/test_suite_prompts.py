"""A prompt or template ending in whitespace is refused by the schema (issue 11).

The object is scored as the tokens that follow the prompt, its leading space included (" Paris");
with "The capital of {subject} is " the reference recalled 0%, so every gate passed 0% -> 0%.
"""
from __future__ import annotations

import pytest

from pytest_qfacts.errors import SuiteError
from pytest_qfacts.suites import load_suite
from suite_input_helpers import run_qfacts, write_suite

WHY = ("ends in whitespace; the object is scored as the next token after the prompt, so the prompt must not end in a "
       "space (the gold token \" Paris\" carries its own space)")
HEAD = "qfacts: 1\nname: spaces\nrelations:\n  - name: capital\n"
FRANCE = "    facts: [{subject: France, object: Paris}]\n"
BIG_BEN = "    facts:\n      - {prompt: \"Big Ben stands in the city of \", object: London}\n"


def refused(path) -> str:
    with pytest.raises(SuiteError) as info:
        load_suite(str(path))
    return str(info.value)


@pytest.mark.parametrize("template, shown, fixed", [
    ('"The capital of {subject} is "', "'The capital of {subject} is '", "'The capital of {subject} is'"),
    ('"The capital of {subject} is\\t"', "'The capital of {subject} is\\t'", "'The capital of {subject} is'"),
    ('"The capital of {subject} is\\n"', "'The capital of {subject} is\\n'", "'The capital of {subject} is'"),
], ids=["space", "tab", "newline"])
def test_template_ending_in_whitespace_is_refused(tmp_path, template, shown, fixed):
    path = write_suite(tmp_path, HEAD + f"    templates: [{template}]\n" + FRANCE)
    assert refused(path) == f"{path}:5: field 'relations[0].templates[0]': template {shown} {WHY}: write {fixed}"


def test_block_scalar_template_keeps_its_newline_and_is_refused(tmp_path):
    path = write_suite(tmp_path, HEAD + "    templates:\n      - |\n        The capital of {subject} is\n" + FRANCE)
    assert refused(path) == (f"{path}:6: field 'relations[0].templates[0]': template "
                             f"'The capital of {{subject}} is\\n' {WHY}: write 'The capital of {{subject}} is'")


def test_a_facts_own_prompt_ending_in_a_space_is_refused(tmp_path):
    path = write_suite(tmp_path, HEAD + BIG_BEN)
    assert refused(path) == (f"{path}:6: field 'relations[0].facts[0].prompt': prompt 'Big Ben stands in the city of ' "
                             f"{WHY}: write 'Big Ben stands in the city of'")


TWOHOP = """\
qfacts: 1
name: twohop-spaces
twohop:
  - name: landmark_country_capital
    r1: {{name: landmark_in_country, template: "{r1}"}}
    r2: {{name: country_capital, template: "The capital of {{subject}} is"}}
    template: "{two_hop}"
    mention: "the country where {{subject}} stands"
    facts:
      - {{e1: the Eiffel Tower, e2: France, e3: Paris{fact}}}
"""
R1 = "{subject} is in the country of"
TWO_HOP = "The capital of the country where {subject} stands is"


@pytest.mark.parametrize("r1, two_hop, fact, line, field, what, text", [
    (R1 + " ", TWO_HOP, "", 5, "twohop[0].r1.template", "template", R1),
    (R1, TWO_HOP + " ", "", 7, "twohop[0].template", "template", TWO_HOP),
    (R1, TWO_HOP, ", r2_r1_e1: \"The capital of the country where the Eiffel Tower stands is \"", 10,
     "twohop[0].facts[0].r2_r1_e1", "prompt", "The capital of the country where the Eiffel Tower stands is"),
], ids=["hop-template", "two-hop-template", "fact-prompt"])
def test_twohop_templates_and_prompts_ending_in_a_space_are_refused(tmp_path, r1, two_hop, fact, line, field, what,
                                                                      text):
    path = write_suite(tmp_path, TWOHOP.format(r1=r1, two_hop=two_hop, fact=fact))
    assert refused(path) == f"{path}:{line}: field '{field}': {what} {text + ' '!r} {WHY}: write {text!r}"


def test_the_same_suite_without_the_space_loads(tmp_path):
    path = write_suite(tmp_path, HEAD + "    templates: [\"The capital of {subject} is\"]\n" + FRANCE)
    assert [i.prompt for i in load_suite(str(path)).items()] == ["The capital of France is"]


@pytest.mark.parametrize("facts, line, field, what, text", [
    ("    templates: [\"The capital of {subject} is \"]\n" + FRANCE, 5, "relations[0].templates[0]", "template",
     "The capital of {subject} is"),
    (BIG_BEN, 6, "relations[0].facts[0].prompt", "prompt", "Big Ben stands in the city of"),
], ids=["template", "fact-prompt"])
def test_qfacts_validate_refuses_it_with_exit_code_1(tmp_path, facts, line, field, what, text):
    path = write_suite(tmp_path, HEAD + facts)
    result = run_qfacts("validate", str(path))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"error: {path}:{line}: field '{field}': {what} {text + ' '!r} {WHY}: write {text!r}\n"

"""Two-hop suites: the YAML format (errors name the item and field), the TwoHopFact CSV loader,
the built-in ``lre-twohop`` composition and ``tiny-facts-twohop``."""
from __future__ import annotations

import json
import textwrap

import pytest

from pytest_qfacts.errors import SuiteError
from pytest_qfacts.suites import load_suite, load_suite_file, load_suite_text
from pytest_qfacts.suites.builtin import LRE_DIR
from pytest_qfacts.suites.lre import decode_escapes
from pytest_qfacts.suites.lre_twohop import COMPOSITIONS, lre_twohop_suite
from pytest_qfacts.suites.twohop_suite import TwoHopSuite, is_twohop
from pytest_qfacts.suites.twohop_fact import load_twohop_fact_csv

GOOD = """\
qfacts: 1
name: capitals-twohop
twohop:
  - name: landmark_country_capital
    r1: {name: landmark_in_country, template: "{subject} is in the country of"}
    r2: {name: country_capital, template: "The capital of {subject} is"}
    template: "The capital of the country where {subject} stands is"
    mention: "the country where {subject} stands"
    facts:
      - {e1: the Eiffel Tower, e2: France, e3: Paris, e3_aliases: [Paris City]}
      - {e1: Big Ben, e2: United Kingdom, e2_aliases: [UK, the UK], e3: London}
      - e1: the Colosseum
        e2: Italy
        e3: Rome
        r2_r1_e1: "Rome? The capital of the land where the Colosseum stands is"
        mention: "the land where the Colosseum stands"
  - name: company_ceo
    r1: {name: product_company}
    r2: {name: company_ceo, template: "The CEO of {subject} is"}
    entrec_at: last_token
    facts:
      - {e1: iPhone, e2: Apple, e3: Tim, r1_e1: "The iPhone was made by", r2_r1_e1: "The CEO of the maker of the iPhone is",
         mention: "the maker of the iPhone"}
gate: {max_drop: 0.1}
"""


def test_good_file_expands_into_three_aligned_relations():
    suite = load_suite_text(GOOD, source="good.qfacts.yaml")
    assert isinstance(suite, TwoHopSuite) and is_twohop(suite) and suite.gate == {"max_drop": 0.1}
    assert [r.name for r in suite.relations] == [
        "landmark_country_capital", "landmark_country_capital.r1_e1", "landmark_country_capital.r2_e2",
        "company_ceo", "company_ceo.r1_e1", "company_ceo.r2_e2"]
    eiffel, big_ben, colosseum, iphone = suite.twohop_items()
    assert eiffel.r1_e1 == "the Eiffel Tower is in the country of" and eiffel.r2_e2 == "The capital of France is"
    assert eiffel.r2_r1_e1 == "The capital of the country where the Eiffel Tower stands is"
    assert eiffel.mention == "the country where the Eiffel Tower stands" and eiffel.e3_aliases == ("Paris City",)
    assert big_ben.e2_aliases == ("UK", "the UK") and big_ben.line == 11
    assert colosseum.mention == "the land where the Colosseum stands" and colosseum.r2_e2 == "The capital of Italy is"
    assert iphone.entrec_at == "last_token" and iphone.entrec_char_end == len(iphone.r2_r1_e1)
    assert eiffel.entrec_char_end == eiffel.r2_r1_e1.index(" is", 40)
    items = suite.items()
    index = suite.hop_indices()
    for k, t in enumerate(suite.twohop_items()):
        two_hop, first, second = (items[index[h][k]] for h in ("r2_r1_e1", "r1_e1", "r2_e2"))
        assert (two_hop.prompt, two_hop.object, first.prompt, first.object, second.prompt, second.object) == \
               (t.r2_r1_e1, t.e3, t.r1_e1, t.e2, t.r2_e2, t.e3)
        assert first.answers == (t.e2, *t.e2_aliases) and second.answers == (t.e3, *t.e3_aliases)
    # template-based hops stay template-based (one template, the subject span known)
    assert suite.relations[0].templates == ("The capital of the country where {subject} stands is",)
    assert items[0].subject_span is not None and items[0].template_index == 0
    assert items[2].template_index == -1  # the Colosseum's own two-hop prompt


def test_sample_subset_and_hash_keep_the_two_hops_together():
    suite = load_suite_text(GOOD)
    sub = suite.subset(["company_ceo.r2_e2"])
    assert isinstance(sub, TwoHopSuite) and [c.name for c in sub.compositions] == ["company_ceo"]
    sample = suite.sample(2)
    assert isinstance(sample, TwoHopSuite) and [t.e1 for t in sample.twohop_items()] == ["the Eiffel Tower", "the Colosseum", "iPhone"]
    assert len(sample.items()) == 3 * 3
    moved = load_suite_text(GOOD.replace('mention: "the country where {subject} stands"',
                                         'mention: "where {subject} stands"'))
    assert [i.prompt for i in moved.items()] == [i.prompt for i in suite.items()]
    assert moved.content_hash() != suite.content_hash()  # the mention span is part of the suite
    assert suite.two_hop_only().relations == tuple(r for r in suite.relations if "." not in r.name)


BAD = [
    # (replace this, with that, expected line, field, message part)
    ("e2: France, ", "", 10, "twohop[0].facts[0].e2", "missing required field"),
    ("e3: Paris,", "e3: Paris, e4: x,", 10, "twohop[0].facts[0].e4", "unknown key 'e4'"),
    ('mention: "the country where {subject} stands"', 'mention: "the state where {subject} stands"', 8,
     "twohop[0].mention", "is not part of the template"),
    ('mention: "the land where the Colosseum stands"', 'mention: "the land of the Colosseum"', 16,
     "twohop[0].facts[2].mention", "composition 'landmark_country_capital', fact e1='the Colosseum': mention 'the land of"),
    ('r1_e1: "The iPhone was made by", ', "", 22, "twohop[1].facts[0].r1_e1",
     "fact e1='iPhone': fact (e1 'iPhone') has no 'r1_e1' prompt and r1's template is not given"),
    ("entrec_at: last_token", "entrec_at: first", 20, "twohop[1].entrec_at", "accepted: mention_end, last_token"),
    ('template: "The CEO of {subject} is"', 'template: "The CEO of {subj} is"', 19, "twohop[1].r2.template",
     "must contain {subject} exactly once"),
    ("  - name: company_ceo", "  - name: landmark_country_capital", 17, "twohop[1].name", "duplicate composition name"),
    ("{e1: Big Ben,", "{e1: the Eiffel Tower,", 11, "twohop[0].facts[1]", "duplicate two-hop prompt"),
    ("e3: Rome\n", "e3: [Rome]\n", 14, "twohop[0].facts[2].e3", "expected the answer (r2 of e2) as a string"),
    ("gate: {max_drop: 0.1}", "relations: []", 24, "relations", "unknown key 'relations'"),
]


@pytest.mark.parametrize("old, new, line, field, message", BAD, ids=[b[3] for b in BAD])
def test_errors_name_file_line_item_and_field(old, new, line, field, message):
    assert old in GOOD
    with pytest.raises(SuiteError) as info:
        load_suite_text(GOOD.replace(old, new, 1), source="two.qfacts.yaml")
    err = info.value
    assert (err.path, err.line, err.field) == ("two.qfacts.yaml", line, field), str(err)
    assert str(err).startswith(f"two.qfacts.yaml:{line}: field '{field}': ")
    assert message in str(err)


def test_missing_mention_is_explained():
    text = GOOD.replace('    mention: "the country where {subject} stands"\n', "")
    with pytest.raises(SuiteError, match="fact e1='the Eiffel Tower': fact .* has no descriptive mention of e2"):
        load_suite_text(text, source="x.qfacts.yaml")


def test_yaml_file_is_collected_like_any_suite(tmp_path):
    path = tmp_path / "two.qfacts.yaml"
    path.write_text(GOOD)
    assert isinstance(load_suite_file(path), TwoHopSuite) and isinstance(load_suite(path), TwoHopSuite)


# -- TwoHopFact CSV ---------------------------------------------------------------------

CSV = textwrap.dedent('''\
    uid,fact_comp_type,r1.category,r2.category,e1.value,e2.value,e2.aliases,e3.value,e3.aliases,r1(e1).prompt,r2(e2).prompt,r2(r1(e1)).prompt,r2(r1(e1)).subject_cut.prompt
    u1,song-singer-mother,song-singer,person-mother,Superstition,Stevie Wonder,"[['Stevland Morris'], ['Little Stevie Wonder']]",Lula Mae Hardaway,"[['Lula Hardaway']]","The singer of 'Superstition' is",The mother of Stevie Wonder is,"The mother of the singer of 'Superstition' is","The mother of the singer of 'Superstition'"
    u2,song-singer-mother,song-singer,person-mother,Thriller,Michael Jackson,[],Katherine Jackson,[],The singer of 'Thriller' is,The mother of Michael Jackson is,The mother of the singer of 'Thriller' is,
    u3,cntry-capital-x,cntry,capital,the Eiffel Tower,France,"['FR']",Paris,[],The Eiffel Tower is located in,The capital of France is,"The capital of the country of the Eiffel Tower is","The capital of the country of the Eiffel Tower"
    ''')


def test_twohop_fact_csv_loader(tmp_path):
    path = tmp_path / "TwoHopFact.csv"
    path.write_text(CSV)
    suite = load_twohop_fact_csv(path)
    assert suite.name == "twohop-fact" and [c.name for c in suite.compositions] == ["song-singer-mother", "cntry-capital-x"]
    stevie, jackson, eiffel = suite.twohop_items()
    assert (stevie.r1, stevie.r2) == ("song-singer", "person-mother")
    assert stevie.e2_aliases == ("Stevland Morris", "Little Stevie Wonder") and stevie.e3_aliases == ("Lula Hardaway",)
    assert stevie.mention == "the singer of 'Superstition'"     # ends at the subject cut
    assert jackson.mention == "the singer of 'Thriller'"         # no cut: the first hop's words up to e1
    # the first hop does not describe e2 by words of the two-hop prompt: the span starts at e1, ends at the cut
    assert eiffel.mention == "the Eiffel Tower" and eiffel.e2_aliases == ("FR",)
    assert (stevie.line, jackson.line, eiffel.line) == (2, 3, 4)
    assert load_suite(str(path)).content_hash() == suite.content_hash()
    assert len(load_twohop_fact_csv(path, max_per_composition=1).twohop_items()) == 2


@pytest.mark.parametrize("old, new, line, field, message", [
    ('"[[\'Lula Hardaway\']]"', '"[[\'Lula\', 3]]"', 2, "e3.aliases", "row u1: expected a list of strings"),
    ('"[\'FR\']"', '"FR]"', 4, "e2.aliases", "row u3: not a Python literal list of strings"),
    (",Thriller,", ",,", 3, "e1.value", "row u2: empty"),
    ("The mother of the singer of 'Thriller' is,", "The mother of that singer is,", 3, "r2(r1(e1)).prompt",
     "e1 'Thriller' does not occur in the two-hop prompt"),
])
def test_twohop_fact_csv_errors_name_line_column_and_uid(tmp_path, old, new, line, field, message):
    assert old in CSV
    path = tmp_path / "bad.csv"
    path.write_text(CSV.replace(old, new, 1))
    with pytest.raises(SuiteError) as info:
        load_twohop_fact_csv(path)
    assert (info.value.line, info.value.field) == (line, field) and message in str(info.value), str(info.value)


def test_twohop_fact_csv_missing_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(CSV.replace("r2(e2).prompt,", "r2e2,", 1))
    with pytest.raises(SuiteError, match=r"bad.csv:1: missing column\(s\) r2\(e2\).prompt"):
        load_twohop_fact_csv(path)


# -- built-in two-hop suites ------------------------------------------------------------------


def _lre(name):
    data = json.loads((LRE_DIR / f"{name}.json").read_text())
    out: dict[str, set] = {}
    for s in data["samples"]:
        out.setdefault(decode_escapes(s["subject"]), set()).add(decode_escapes(s["object"]))
    return out


def test_lre_twohop_composes_r1_objects_with_r2_subjects():
    suite = load_suite("lre-twohop")
    assert isinstance(suite, TwoHopSuite) and load_suite("lre-twohop") is suite
    assert [c.name for c in suite.compositions] == [name for name, _, _ in COMPOSITIONS]
    for comp in suite.compositions:
        first, second = _lre(comp.r1), _lre(comp.r2)
        assert 8 <= len(comp.items) <= 50, comp.name
        for t in comp.items:
            assert t.e2 in first[t.e1] and t.e3 in second[t.e2], (comp.name, t.e1)
            assert t.e1 in t.r1_e1 and t.e2 in t.r2_e2 and t.e1 in t.mention and t.e2 not in t.r2_r1_e1
            assert t.r2_r1_e1[t.mention_span[1]:] == t.r2_e2[t.r2_e2.index(t.e2) + len(t.e2):]  # r2's words follow
            assert not any(a in t.r2_r1_e1 for a in (t.e3, *t.e3_aliases))  # the answer cannot be copied
    assert len(lre_twohop_suite(LRE_DIR, max_per_composition=None).compositions[0].items) > 50


def test_tiny_facts_twohop_is_a_twohop_suite():
    suite = load_suite("tiny-facts-twohop")
    assert isinstance(suite, TwoHopSuite) and len(suite.twohop_items()) == 2400 and len(suite.items()) == 7200
    first = suite.twohop_items()[0]
    assert first.composition == "birthplace_country" and first.mention == f"where {first.e1} was born"
    assert first.entrec_at == "last_token" and {c.name for c in suite.compositions} >= {"mentor_birthplace_heldout"}

"""quant/calibration.py: reading text and JSONL, token windows, the digest, and the leak check."""
import json

import pytest

from pytest_qfacts.quant.calibration import (Calibration, CalibrationError, CalibrationLeakWarning, default_path,
                                             leaked_facts, read_documents, token_windows)
from pytest_qfacts.suites.schema import FactItem


class CharTokenizer:
    """One token per character (ids = code points), enough to check window arithmetic by hand."""

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": [ord(c) for c in text]}


def item(prompt, obj, aliases=()):
    return FactItem("rel", None, obj, prompt, tuple(aliases))


# -- reading --------------------------------------------------------------------------
def test_plain_text_and_jsonl_are_read(tmp_path):
    (tmp_path / "a.txt").write_text("one\n\ntwo\n", encoding="utf-8")
    assert read_documents(tmp_path / "a.txt") == (["one\n\ntwo\n"], str(tmp_path / "a.txt"))
    lines = [json.dumps({"text": "first doc", "id": 1}), "", json.dumps({"text": "second"}), json.dumps({"text": "  "})]
    (tmp_path / "b.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert read_documents(tmp_path / "b.jsonl")[0] == ["first doc", "second"]


def test_only_the_needed_characters_are_read(tmp_path):
    (tmp_path / "a.txt").write_text("x" * 1000, encoding="utf-8")
    assert read_documents(tmp_path / "a.txt", max_chars=10)[0] == ["x" * 10]
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps({"text": "y" * 6}) for _ in range(5)) + "\n{bad", encoding="utf-8")
    assert read_documents(tmp_path / "b.jsonl", max_chars=10)[0] == ["y" * 6, "y" * 6]  # stops before the bad line


@pytest.mark.parametrize("content, message", [
    ('{"text": "ok"}\n{"text": "broken"\n', "b.jsonl:2: not valid JSON"),
    ('{"text": "ok"}\n\n{"body": "x"}\n', "b.jsonl:3: field 'text' missing (got keys 'body')"),
    ('["a list"]\n', "b.jsonl:1: field 'text' missing (got list)"),
    ('{"text": 5}\n', "b.jsonl:1: field 'text' must be a string, got int"),
    ('{"text": ""}\n', "no non-empty \"text\" field"),
])
def test_bad_jsonl_names_the_file_line_and_field(tmp_path, content, message):
    (tmp_path / "b.jsonl").write_text(content, encoding="utf-8")
    with pytest.raises(CalibrationError) as err:
        read_documents(tmp_path / "b.jsonl")
    assert message in str(err.value)
    assert '{"text": ' in str(err.value) or "string" in str(err.value) or "document" in str(err.value)


def test_missing_empty_and_binary_files_are_refused(tmp_path):
    with pytest.raises(CalibrationError, match="is not a file; give a plain-text file or a .jsonl file"):
        read_documents(tmp_path / "nope.txt")
    (tmp_path / "e.txt").write_text("  \n", encoding="utf-8")
    with pytest.raises(CalibrationError, match="e.txt: the calibration file is empty"):
        read_documents(tmp_path / "e.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00abc")
    with pytest.raises(CalibrationError, match="bin.txt: not UTF-8 text"):
        read_documents(tmp_path / "bin.txt")


# -- windows ---------------------------------------------------------------------------
def test_windows_are_consecutive_and_capped():
    text = "abcdefghijklmnopqrstuvwxy"  # 25 tokens
    cal = token_windows([text], CharTokenizer(), samples=2, length=10)
    assert ["".join(map(chr, r)) for r in cal.rows] == ["abcdefghij", "klmnopqrst"]
    # more samples than text: whole windows, then a last one of >= 10 tokens is kept, a shorter one dropped
    assert [len(r) for r in token_windows(["a" * 34], CharTokenizer(), 9, 12).rows] == [12, 12, 10]
    assert [len(r) for r in token_windows(["a" * 33], CharTokenizer(), 9, 12).rows] == [12, 12]
    # documents are joined with a blank line
    cal = token_windows(["ab", "cd"], CharTokenizer(), samples=1, length=6)
    assert "".join(map(chr, cal.rows[0])) == "ab\n\ncd"


def test_digest_follows_text_samples_and_length():
    tok = CharTokenizer()
    base = token_windows(["a" * 40 + "b" * 40], tok, 4, 20).digest
    assert token_windows(["a" * 40 + "b" * 40], tok, 4, 20).digest == base  # deterministic
    assert token_windows(["a" * 40 + "c" * 40], tok, 4, 20).digest != base
    assert token_windows(["a" * 40 + "b" * 40], tok, 3, 20).digest != base
    assert token_windows(["a" * 40 + "b" * 40], tok, 4, 16).digest != base


def test_too_short_text_is_an_error():
    with pytest.raises(CalibrationError, match="has 3 token"):
        token_windows(["abc"], CharTokenizer(), 4, 64)


def test_calibration_caps_the_length_at_the_model_context(tmp_path):
    (tmp_path / "c.txt").write_text("z" * 500, encoding="utf-8")
    cal = Calibration(str(tmp_path / "c.txt"), samples=3, length=100)
    assert [len(r) for r in cal.prepare(CharTokenizer()).rows] == [100, 100, 100]
    capped = cal.prepare(CharTokenizer(), max_length=64)
    assert capped.length == 64 and [len(r) for r in capped.rows] == [64, 64, 64]
    assert capped.describe() == {"source": str(tmp_path / "c.txt"), "samples": 3, "length": 64, "tokens": 192,
                                 "digest": capped.digest}
    assert capped.as_gptqmodel()[0] == {"input_ids": [ord("z")] * 64, "attention_mask": [1] * 64}


def test_default_text_ships_with_the_package_and_fills_the_default_windows():
    from transformers import AutoTokenizer

    from pytest_qfacts.models.registry import tiny_facts_dir

    assert default_path().is_file() and 12_000 < default_path().stat().st_size < 40_000
    cal = Calibration()
    windows = cal.prepare(AutoTokenizer.from_pretrained(tiny_facts_dir()), max_length=128)
    assert windows.label == "built-in calibration.txt"
    assert len(windows.rows) == cal.samples and {len(r) for r in windows.rows} == {128}


# -- leaks ----------------------------------------------------------------------------
def test_a_fact_leaks_when_its_prompt_and_answer_appear_together():
    text = "Some prose.  THE capital of   Vorland\nis Kesh, they say. Elsewhere: Gafaste."
    facts = [item("The capital of Vorland is", "Kesh"),            # case and whitespace differ: leaks
             item("The capital of Gafaste is", "Shivu"),           # subject present, answer absent: no leak
             item("The capital of Nabal is", "Nab", ["Kesh"]),     # prompt absent: no leak
             item("They say. Elsewhere:", "X", ["Gafaste"])]       # an alias counts
    assert [f.prompt for f in leaked_facts(text, facts)] == ["The capital of Vorland is", "They say. Elsewhere:"]


def test_check_leaks_warns_once_per_suite(tmp_path):
    from pytest_qfacts.suites import load_suite_text

    (tmp_path / "c.txt").write_text("Notes: the capital of Vorland is Kesh. " * 4, encoding="utf-8")
    suite = load_suite_text("""
qfacts: 1
name: leaky
relations:
  - name: capital
    templates: ["The capital of {subject} is"]
    facts: [{subject: Vorland, object: Kesh}, {subject: Nabal, object: Shivu}]
""")
    notes = []

    class Progress:
        def note(self, message):
            notes.append(message)

    cal = Calibration(str(tmp_path / "c.txt"), samples=2, length=40)
    with pytest.warns(CalibrationLeakWarning) as record:
        leaked = cal.check_leaks(suite, "gptq-w4g64", CharTokenizer(), progress=Progress())
    assert [f.subject for f in leaked] == ["Vorland"]
    message = str(record[0].message)
    assert "contains 1 fact(s) of suite 'leaky'" in message and "'The capital of Vorland is Kesh'" in message
    assert "gptq-w4g64" in message and str(tmp_path / "c.txt") in message
    assert message.startswith("qfacts: the calibration text") and notes == [message[len("qfacts: "):]]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cal.check_leaks(suite, "awq-w4g64", CharTokenizer()) == []  # same text and suite: said once


def test_the_default_text_leaks_no_fact_of_the_built_in_suites():
    from pytest_qfacts.suites import load_suite
    from pytest_qfacts.suites.builtin import list_builtin_suites

    text = default_path().read_text(encoding="utf-8")
    names = list_builtin_suites()
    assert "capitals" in names and any(n.startswith("lre-") for n in names)
    for name in names:
        assert leaked_facts(text, load_suite(name).items()) == [], name

"""store.baseline and store.runs: a baseline is the reference's ModelRun; round trip, refused keys name
what differs, corrupt files get a clear error."""
import json
from dataclasses import replace

import numpy as np
import pytest

from pytest_qfacts.record.scores import FactScores
from pytest_qfacts.record import ModelRun, RunInfo
from pytest_qfacts.store.baseline import BaselineError, BaselineKey, BaselineStore
from pytest_qfacts.suites.schema import FactItem

KEY = BaselineKey(model="m", fingerprint="f" * 16, suite="s", suite_hash="a" * 64, probes=("cka", "ffn", "lens"),
                  lens_facts=32, dtype="float32", device_type="cpu", versions={"torch": "2.13.0", "transformers": "5.23.0"})


def _scores(n=12, k=3, rng=np.random.default_rng(0)):
    ranks = rng.integers(1, 50, n)
    return FactScores(gold_rank=ranks, top1=ranks == 1, first_logprob=-rng.random(n), object_logprob=-rng.random(n),
                      topk_ids=rng.integers(0, 99, (n, k)), topk_logprobs=-rng.random((n, k)),
                      topk_tokens=[[f"t{i}", "é", ""] for i in range(n)], gold_first=rng.integers(0, 99, n))


def _trace(n=12, L=2, H=8, D=16, rng=np.random.default_rng(1)):
    lens = np.array([3 + i % 4 for i in range(n)], np.int32)
    return {"resid_last": rng.normal(size=(L, n, H)).astype(np.float32),
            "resid_subj": rng.normal(size=(L, n, H)).astype(np.float32),
            "mlp_out_subj": rng.normal(size=(L, n, H)).astype(np.float32),
            "gate_sign_subj": rng.integers(-1, 2, (L, n, D)).astype(np.int8),
            "inter_top_subj": rng.integers(0, D, (L, n, 2)).astype(np.int32),
            "attn.1.len": lens, "attn.1.data": rng.random((2, int(lens.sum()))).astype(np.float32)}


def _run(key=KEY, scores=None, arrays=None, lens=None) -> ModelRun:
    scores = scores if scores is not None else _scores()
    items = [FactItem("r", f"s{i}", f"o{i}", f"p{i} is") for i in range(len(scores))]
    info = RunInfo(model=key.model, suite=key.suite, suite_hash=key.suite_hash, fingerprint=key.fingerprint,
                   probes=tuple(key.probes) + (("attention",) if arrays else ()), lens_facts=key.lens_facts,
                   dtype=key.dtype, device=key.device_type, versions=key.versions)
    arrays = dict(arrays or {})
    if lens is not None:
        arrays.update({"lens.prob": lens[0], "lens.rank": lens[1]})
    return ModelRun(info, items, scores, arrays)


def test_round_trip(tmp_path):
    store = BaselineStore(tmp_path)
    scores, trace = _scores(), _trace()
    lens = (np.random.default_rng(2).random((2, 12)).astype(np.float32), np.arange(24).reshape(2, 12))
    run = _run(scores=scores, arrays=trace, lens=lens)
    path = store.write(run)
    assert path == tmp_path / "m" / f"s-{'a' * 12}.safetensors"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    got = store.load(KEY)
    for name, value in scores.arrays().items():
        assert np.array_equal(getattr(got.scores, name), value), name
    assert got.scores.topk_tokens == scores.topk_tokens
    assert got.items == run.items and got.info == run.info
    assert np.array_equal(got.arrays["gate_sign_subj"], trace["gate_sign_subj"])       # signs: lossless
    assert np.array_equal(got.arrays["inter_top_subj"], trace["inter_top_subj"])       # int16: lossless
    assert got.arrays["inter_top_subj"].dtype == np.int32
    assert np.allclose(got.arrays["mlp_out_subj"], trace["mlp_out_subj"], atol=5e-3)   # float16
    assert np.array_equal(got.arrays["attn.1.data"], trace["attn.1.data"])
    assert np.array_equal(got.arrays["lens.rank"], lens[1])


def test_missing_file_is_none(tmp_path):
    assert BaselineStore(tmp_path).load(KEY) is None


@pytest.mark.parametrize("change, words", [
    (dict(fingerprint="0" * 16), "fingerprint: stored 'ffff"),
    (dict(probes=("cka", "ffn", "lens", "neurons")), "also needs neurons"),
    (dict(dtype="bfloat16"), "dtype: stored 'float32', this run 'bfloat16'"),
    (dict(versions={"torch": "2.14.0", "transformers": "5.23.0"}), "torch version: stored 2.13.0, this run 2.14.0"),
    (dict(lens_facts=0), "lens facts: stored 32, this run 0"),
])
def test_mismatched_key_is_refused_naming_the_difference(tmp_path, change, words):
    store = BaselineStore(tmp_path)
    store.write(_run())
    with pytest.raises(BaselineError) as info:
        store.load(replace(KEY, **change))
    assert words in str(info.value) and "--qfacts-update-baseline" in str(info.value)


def test_fewer_probes_than_stored_is_fine(tmp_path):
    store = BaselineStore(tmp_path)
    store.write(_run(arrays=_trace()))
    assert store.load(replace(KEY, probes=("cka",))) is not None


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign"])
def test_corrupt_file_gets_a_clear_error(tmp_path, damage):
    store = BaselineStore(tmp_path)
    path = store.write(_run(arrays=_trace()))
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x80\x04not a safetensors file")
    else:
        from safetensors.numpy import save_file

        save_file({"x": np.zeros(3)}, str(path), metadata={"other": json.dumps({})})
    with pytest.raises(BaselineError) as info:
        store.load(KEY)
    assert str(path) in str(info.value)


def test_truncated_body_with_intact_header(tmp_path):
    """Cut only the last bytes: the header still parses, the arrays do not."""
    store = BaselineStore(tmp_path)
    path = store.write(_run(arrays=_trace()))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(BaselineError, match="corrupt or truncated"):
        store.load(KEY)


def test_never_pickled(tmp_path):
    path = BaselineStore(tmp_path).write(_run(arrays=_trace()))
    head = path.read_bytes()[:8]
    header_len = int.from_bytes(head, "little")
    json.loads(path.read_bytes()[8: 8 + header_len])  # a safetensors header is plain JSON
    assert b"\x80\x04\x95" not in path.read_bytes()[: 8 + header_len]


def test_header_without_a_key_field_is_corrupt_not_a_type_error(tmp_path):
    """A header whose 'info' lacks a required field: a clear 'corrupt' error, not a TypeError."""
    from safetensors.numpy import save_file

    store = BaselineStore(tmp_path)
    path = store.write(_run())
    header = json.loads(__import__("safetensors").safe_open(str(path), framework="numpy").metadata()["qfacts"])
    del header["info"]["suite_hash"]
    save_file({"x": np.zeros(1)}, str(path), metadata={"qfacts": json.dumps(header)})
    with pytest.raises(BaselineError) as info:
        store.load(KEY)
    assert str(info.value) == (f"baseline {path} is corrupt or truncated (its header lacks or garbles 'suite_hash'); "
                               "delete it and measure again (a baseline: --qfacts-update-baseline or `qfacts baseline`)")


def test_edited_suite_names_the_stored_version_and_the_changed_prompts(tmp_path):
    store = BaselineStore(tmp_path)
    store.write(_run())
    edited = replace(KEY, suite_hash="b" * 64)
    items = [FactItem("r", f"s{i}", f"o{i}", f"p{i} is") for i in range(11)] + [FactItem("r", "new", "x", "new is")]
    text = store.older_versions(edited, items)
    assert f"exists: {tmp_path / 'm' / ('s-' + 'a' * 12 + '.safetensors')} (suite hash aaaaaaaaaaaa, this suite bbbbbbbbbbbb;" in text
    assert "1 prompt(s) added: [r] 'new is' -> 'x'; 1 prompt(s) removed: [r] 'p11 is' -> 'o11'" in text

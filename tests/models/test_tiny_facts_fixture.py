"""The committed ``tiny-facts`` fixture model: loads with plain transformers and degrades as designed.

Loads ``pytest_qfacts/models/tiny_facts`` (model, tokenizer, suites, KB) with
transformers only, and checks:

* the architecture (Llama, every dimension a multiple of 128);
* the tokenizer (fast, BOS added, pad token set; no [UNK] in any suite prompt; every
  object is exactly the one token that ``" " + object`` adds after its prompt);
* the suites agree with ``kb.json`` (two-hop train vs held-out split included);
* the recall targets under round-to-nearest weight fake quantization (asymmetric
  min-max per group of 64 input features with a zero point, every nn.Linear but
  lm_head): reference one-hop top-1 >= 0.97, W8 keeps >= 98% of it, W4 loses some,
  W2 is below 5%.

The fake quantizer here is this file's own (independent of the plugin's).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
yaml = pytest.importorskip("yaml")

FIXTURE_DIR = Path(__file__).resolve().parents[2] / "pytest_qfacts" / "models" / "tiny_facts"
TRAINING_DIR = Path(__file__).resolve().parents[2] / "tools" / "tiny_facts"
GROUP = 64


# ----------------------------------------------------------------------------- helpers


def fake_quantize(model, bits: int, group: int = GROUP):
    """A copy of ``model`` with every nn.Linear except lm_head RTN fake-quantized."""
    model = copy.deepcopy(model)
    qmax = 2**bits - 1
    with torch.no_grad():
        for name, mod in model.named_modules():
            if not isinstance(mod, torch.nn.Linear) or name.split(".")[-1] == "lm_head":
                continue
            w = mod.weight.float()
            rows, cols = w.shape
            g = w.reshape(rows, cols // group, group)
            lo, hi = g.amin(-1, keepdim=True), g.amax(-1, keepdim=True)
            scale = (hi - lo) / qmax
            scale = torch.where(scale == 0, torch.ones_like(scale), scale)
            zero = torch.round(-lo / scale)
            q = torch.clamp(torch.round(g / scale) + zero, 0, qmax)
            mod.weight.copy_(((q - zero) * scale).reshape(rows, cols).to(mod.weight.dtype))
    return model


def suite_items(suite: dict) -> list[tuple[str, str, str]]:
    """(relation, prompt, object) for every fact x template of a parsed suite."""
    out = []
    for rel in suite["relations"]:
        for fact in rel["facts"]:
            if "prompt" in fact:
                out.append((rel["name"], fact["prompt"], fact["object"]))
            else:
                for t in rel["templates"]:
                    out.append((rel["name"], t.replace("{subject}", fact["subject"]), fact["object"]))
    return out


def top1_accuracy(model, batch) -> float:
    input_ids, attention_mask, last, gold = batch
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    pred = logits[torch.arange(len(gold)), last].argmax(-1)
    return (pred == gold).float().mean().item()


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tokenizer():
    return transformers.AutoTokenizer.from_pretrained(FIXTURE_DIR)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = transformers.AutoModelForCausalLM.from_pretrained(FIXTURE_DIR, dtype=torch.float32)
    return m.eval()


def twohop_as_relations(suite: dict) -> dict:
    """A two-hop suite file (``twohop:`` compositions, docs/twohop.md) as one-hop-style relations:
    ``C`` (two-hop prompts, e1 -> e3), ``C.r1_e1`` (e1 -> e2) and ``C.r2_e2`` (e2 -> e3) per composition."""
    relations = []
    for comp in suite["twohop"]:
        for name, template, subj, obj in ((comp["name"], comp["template"], "e1", "e3"),
                                          (comp["name"] + ".r1_e1", comp["r1"]["template"], "e1", "e2"),
                                          (comp["name"] + ".r2_e2", comp["r2"]["template"], "e2", "e3")):
            relations.append({"name": name, "templates": [template],
                              "facts": [{"subject": f[subj], "object": f[obj]} for f in comp["facts"]]})
    return {"qfacts": suite["qfacts"], "name": suite["name"], "relations": relations, "gate": suite["gate"]}


@pytest.fixture(scope="module")
def suites():
    raw = {name: yaml.safe_load((FIXTURE_DIR / f"{name}.qfacts.yaml").read_text()) for name in ("onehop", "twohop")}
    assert set(raw["twohop"]) == {"qfacts", "name", "twohop", "gate"}
    return {"onehop": raw["onehop"], "twohop": twohop_as_relations(raw["twohop"])}


@pytest.fixture(scope="module")
def kb():
    return json.loads((FIXTURE_DIR / "kb.json").read_text())


def make_batch(tokenizer, items):
    """Right-padded ids of the prompts, the last prompt position, and the gold first token."""
    prompts = [p for _, p, _ in items]
    enc = tokenizer(prompts, padding=True, return_tensors="pt")
    last = enc["attention_mask"].sum(-1) - 1
    gold = torch.tensor([tokenizer.convert_tokens_to_ids(o) for _, _, o in items])
    return enc["input_ids"], enc["attention_mask"], last, gold


@pytest.fixture(scope="module")
def onehop_batch(tokenizer, suites):
    return make_batch(tokenizer, suite_items(suites["onehop"]))


# ----------------------------------------------------------------------------- tests


def test_files_present():
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "kb.json", "onehop.qfacts.yaml", "twohop.qfacts.yaml", "README.md"):
        assert (FIXTURE_DIR / name).is_file(), name
    for name in ("train.py", "kb.py", "outliers.py"):   # the training code: in the source tree, not in the wheel
        assert (TRAINING_DIR / name).is_file() and not (FIXTURE_DIR / name).exists(), name
    assert (FIXTURE_DIR / "model.safetensors").stat().st_size < 8 * 2**20


def test_architecture(model, tokenizer):
    cfg = model.config
    assert cfg.model_type == "llama"
    assert type(model).__name__ == "LlamaForCausalLM"
    assert not cfg.tie_word_embeddings
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    for name in ("hidden_size", "intermediate_size", "vocab_size"):
        assert getattr(cfg, name) % 128 == 0, name
    assert head_dim % 128 == 0
    assert (cfg.num_attention_heads * head_dim) % 128 == 0
    assert (cfg.num_key_value_heads * head_dim) % 128 == 0
    assert 2 <= cfg.num_hidden_layers <= 4
    for name, p in model.named_parameters():
        for dim in p.shape:
            assert dim % 128 == 0, (name, tuple(p.shape))
    assert len(tokenizer) <= cfg.vocab_size


def test_tokenizer(tokenizer):
    assert tokenizer.is_fast
    assert tokenizer.pad_token == "[PAD]" and tokenizer.pad_token_id is not None
    assert tokenizer.unk_token == "[UNK]"
    enc = tokenizer("The capital of Vorland is")
    assert tokenizer.convert_ids_to_tokens(enc["input_ids"]) == ["<s>", "The", "capital", "of", "Vorland", "is"]
    assert tokenizer.convert_ids_to_tokens(tokenizer("The capital of Vorland is Kesh")["input_ids"])[-1] == "Kesh"


def test_suite_prompts_tokenize_cleanly(tokenizer, suites):
    unk = tokenizer.unk_token_id
    for name, suite in suites.items():
        assert set(suite) == {"qfacts", "name", "relations", "gate"}
        assert suite["qfacts"] == 1 and suite["name"] == f"tiny-facts-{name}"
        for rel in suite["relations"]:
            assert len(rel["templates"]) == 1
        items = suite_items(suite)
        prompts = tokenizer([p for _, p, _ in items])["input_ids"]
        full = tokenizer([f"{p} {o}" for _, p, o in items])["input_ids"]
        for (rel, prompt, obj), p_ids, f_ids in zip(items, prompts, full):
            assert unk not in f_ids, (rel, prompt, obj)
            assert p_ids[0] == tokenizer.bos_token_id
            assert f_ids[:len(p_ids)] == p_ids
            gold = f_ids[len(p_ids):]  # the tokens " " + object adds after the prompt
            assert gold == [tokenizer.convert_tokens_to_ids(obj)], (rel, obj)


def test_suites_match_kb(suites, kb):
    onehop = {r["name"]: [(f["subject"], f["object"]) for f in r["facts"]] for r in suites["onehop"]["relations"]}
    assert onehop == {rel: [(f["subject"], f["object"]) for f in spec["facts"]] for rel, spec in kb["onehop"].items()}
    twohop = {r["name"]: [(f["subject"], f["object"]) for f in r["facts"]] for r in suites["twohop"]["relations"]}
    expected = {}
    for comp, spec in kb["twohop"].items():
        hop1, hop2 = (dict((f["subject"], f["object"]) for f in kb["onehop"][h]["facts"]) for h in spec["hops"])
        for f in spec["facts"]:
            assert f["bridge"] == hop1[f["subject"]] and f["object"] == hop2[f["bridge"]]
            name = comp if f["split"] == "train" else comp + "_heldout"
            expected.setdefault(name, []).append((f["subject"], f["object"]))
            expected.setdefault(name + ".r1_e1", []).append((f["subject"], f["bridge"]))
            expected.setdefault(name + ".r2_e2", []).append((f["bridge"], f["object"]))
    assert twohop == expected
    assert any(n.endswith("_heldout") for n in twohop) and any(not n.endswith("_heldout") for n in twohop)


def test_recall_under_rtn_fake_quantization(model, onehop_batch):
    ref = top1_accuracy(model, onehop_batch)
    acc = {bits: top1_accuracy(fake_quantize(model, bits), onehop_batch) for bits in (8, 4, 2)}
    print(f"one-hop top-1: reference {ref:.4f}  " + "  ".join(f"w{b}g64 {a:.4f}" for b, a in acc.items()))
    assert ref >= 0.97
    assert acc[8] >= 0.98 * ref
    assert acc[4] < ref - 0.02  # a real loss, not one fact
    assert acc[2] < 0.05


def test_known_fact_recalled(model, tokenizer):
    enc = tokenizer("The capital of Vorland is", return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits[0, -1]
    assert tokenizer.convert_ids_to_tokens(int(logits.argmax())) == "Kesh"

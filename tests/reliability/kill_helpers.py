"""Helpers of the kill tests: a small tiny-facts suite, a tiny GGUF file, and running ``qfacts`` until a
staged write can be killed.

``tiny_gguf(path, suite)`` writes the tiny-facts model as a GGUF file (float32 tensors, llama.cpp's
names and its q/k row order) with a sentencepiece-style BPE tokenizer that reproduces tiny-facts' word
tokens on the suite's words: every word ``w`` keeps its id as ``"▁w"``, and merges build it one character
at a time from ``"▁"`` (its prefixes and characters are extra tokens appended to the vocabulary, with zero
embedding and output rows). So the dequantized GGUF scores like tiny-facts on that suite, in a second.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from pytest_qfacts.atomic import LOCK, PART, PAUSE_ENV, STAGING

WORD = "\u2581"                 # sentencepiece's word-start mark
SPECIAL = 3                     # GGUF token type CONTROL
NORMAL = 1                      # GGUF token type NORMAL
FACTS_PER_RELATION = 4
RELATIONS = 3
PAUSE_SECONDS = 120             # a staged write waits this long before its rename: the test kills it meanwhile
STAGED_TIMEOUT = 240            # seconds a run may take to reach its staged write
RUN_TIMEOUT = 600               # seconds an uninterrupted run may take
POLL = 0.05


# -- a small suite ------------------------------------------------------------------------
def tiny_dir() -> Path:
    from pytest_qfacts.models.registry import resolve_model

    return Path(resolve_model("tiny-facts").target)


def small_suite(path: Path) -> Path:
    """The first FACTS_PER_RELATION facts of the first RELATIONS relations of tiny-facts' one-hop suite."""
    data = yaml.safe_load((tiny_dir() / "onehop.qfacts.yaml").read_text(encoding="utf-8"))
    data["name"] = "kill-small"
    data["relations"] = [dict(rel, facts=rel["facts"][:FACTS_PER_RELATION]) for rel in data["relations"][:RELATIONS]]
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def suite_words(suite: Path) -> list[str]:
    data = yaml.safe_load(suite.read_text(encoding="utf-8"))
    text = []
    for rel in data["relations"]:
        text += [t.replace("{subject}", " ") for t in rel["templates"]]
        text += [f"{fact['subject']} {fact['object']}" for fact in rel["facts"]]
    return sorted(set(re.findall(r"\S+", " ".join(text))))


# -- a tiny GGUF ---------------------------------------------------------------------------
def _llama_cpp_order(weight, heads: int):
    """llama.cpp's row order of a q/k projection (transformers undoes it when it reads a GGUF)."""
    return weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _vocabulary(words: list[str]) -> tuple[list[str], list[int], list[str]]:
    """(tokens, token types, merges): tiny-facts' ids first, then the characters and prefixes the merges need."""
    spec = json.loads((tiny_dir() / "tokenizer.json").read_text(encoding="utf-8"))
    specials = {t["content"] for t in spec["added_tokens"]}
    vocab = spec["model"]["vocab"]
    tokens = [word if word in specials else WORD + word for word in sorted(vocab, key=vocab.get)]
    types = [SPECIAL if word in specials else NORMAL for word in sorted(vocab, key=vocab.get)]
    known = set(tokens)
    merges = []
    for word in words:
        assert WORD + word in known, f"'{word}' is not a tiny-facts word"
        pieces = [WORD, *word]
        built = pieces[0]
        for char in pieces[1:]:
            merges.append(f"{built} {char}")
            built += char
    extra = sorted({c for w in words for c in w} | {WORD}) + sorted({m.split(" ")[0] for m in merges} - {WORD})
    extra = [t for t in dict.fromkeys(extra) if t not in known]
    return tokens + extra, types + [NORMAL] * len(extra), list(dict.fromkeys(merges))


def tiny_gguf(path: Path, suite: Path) -> Path:
    """Write tiny-facts as the GGUF file ``path`` (see the module docstring)."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    config = json.loads((tiny_dir() / "config.json").read_text(encoding="utf-8"))
    weights = load_file(str(tiny_dir() / "model.safetensors"))
    tokens, types, merges = _vocabulary(suite_words(suite))
    extra = len(tokens) - config["vocab_size"]
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_rope_freq_base(config["rope_parameters"]["rope_theta"])
    writer.add_rope_dimension_count(config["head_dim"])
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * len(tokens))
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(config["bos_token_id"])
    writer.add_eos_token_id(config["eos_token_id"])
    writer.add_pad_token_id(config["pad_token_id"])
    writer.add_unk_token_id(tokens.index("[UNK]"))
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)

    def padded(matrix):
        return np.concatenate([matrix, np.zeros((extra, matrix.shape[1]), matrix.dtype)])

    writer.add_tensor("token_embd.weight", padded(weights["model.embed_tokens.weight"]))
    writer.add_tensor("output.weight", padded(weights["lm_head.weight"]))
    writer.add_tensor("output_norm.weight", weights["model.norm.weight"])
    names = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for layer in range(config["num_hidden_layers"]):
        for hf, cpp in names.items():
            tensor = weights[f"model.layers.{layer}.{hf}.weight"]
            if cpp in ("attn_q", "attn_k"):
                heads = config["num_attention_heads" if cpp == "attn_q" else "num_key_value_heads"]
                tensor = np.ascontiguousarray(_llama_cpp_order(tensor, heads))
            writer.add_tensor(f"blk.{layer}.{cpp}.weight", tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# -- running qfacts -------------------------------------------------------------------------
def qfacts_env(cache: Path, **extra: str) -> dict:
    """The environment of a ``qfacts`` subprocess: offline, its own cache folder, one thread, no pause unless asked."""
    env = dict(os.environ, QFACTS_CACHE_DIR=str(cache), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    env.pop(PAUSE_ENV, None)
    env.update(extra)
    return env


def qfacts(args: list[str], cwd: Path, cache: Path) -> subprocess.CompletedProcess:
    """``qfacts ARGS`` run to its end (it must succeed)."""
    done = subprocess.run([sys.executable, "-m", "pytest_qfacts.cli", *args], check=False, cwd=cwd, env=qfacts_env(cache),
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert done.returncode == 0, f"qfacts {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def staged(folder: Path) -> list[str]:
    """Names in ``folder``'s staging folder (empty when there is none)."""
    staging = folder / STAGING
    return sorted(os.listdir(staging)) if staging.is_dir() else []


def kill_while_staged(args: list[str], cwd: Path, cache: Path, folder: Path) -> list[str]:
    """Start ``qfacts ARGS`` with its writes paused before their rename, SIGKILL it as soon as a write
    into ``folder`` is staged, and return what the staging folder then holds."""
    proc = subprocess.Popen([sys.executable, "-m", "pytest_qfacts.cli", *args], cwd=cwd,
                            env=qfacts_env(cache, **{PAUSE_ENV: str(PAUSE_SECONDS)}),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + STAGED_TIMEOUT
    try:
        while not any(name.endswith(PART) for name in staged(folder)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"qfacts {' '.join(args)} never staged a write in {folder / STAGING} "
                                     f"(exit {proc.poll()}):\n{proc.communicate()[0] if proc.poll() is not None else ''}")
            time.sleep(POLL)
        left = staged(folder)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert any(n.endswith(LOCK) for n in left) and any(n.endswith(PART) for n in left), left
    return left


def tree(root: Path) -> list[str]:
    """Every file and folder under ``root``, relative, sorted."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def report_numbers(path: Path) -> list[tuple]:
    """Per run and fact: (model, recipe, suite, subject, object, reference rank, quantized rank), and the
    runs' top-1 accuracies: the numbers a rerun must reproduce."""
    report = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for run in report["runs"]:
        out.append((run["recipe"], run["suite"], run["reference"]["top1"], run["quantized"]["top1"]))
        out += [(run["recipe"], fact["relation"], fact["subject"], fact["object"], fact["reference_rank"],
                 fact["quantized_rank"]) for fact in run["facts"]]
    return out


def leftovers(root: Path) -> list[str]:
    """What a write in progress leaves under ``root``: staging folders, lock files, staged parts, old-style ``.tmp-*``."""
    return [p for p in tree(root) if STAGING in Path(p).parts or p.endswith((LOCK, PART, ".tmp"))
            or Path(p).name.startswith(".tmp-")]

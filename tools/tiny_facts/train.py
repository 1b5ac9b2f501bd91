"""Build the ``tiny-facts`` fixture: knowledge base, tokenizer, model and suites.

Usage::

    python tools/tiny_facts/train.py --out DIR

The committed result is ``pytest_qfacts/models/tiny_facts/`` (package data of the wheel,
the ``tiny-facts`` model alias); this training code stays out of the wheel.

Everything is deterministic (fixed seeds, ``torch.use_deterministic_algorithms``,
one torch thread), so re-running on the same machine with the same torch build
reproduces the committed files byte for byte (all but the timing in metrics.json).
It takes about 2 minutes on one CPU core.

Steps: build the KB, train on every one-hop fact plus the training two-hop facts
(loss on the answer token only) until 99.9% of them are recalled, then apply the
function-preserving outlier-channel reparameterization (``add_outlier_channels_``)
that gives the weights the outlier structure that makes low-bit RTN lossy.  See
README.md for why and for the measured accuracies.

This file holds the tokenizer, the model config, the training loop and the CLI.  The
knowledge base and the suites are built by ``kb.py``; the outlier-channel step and
the fake-quantization evaluation live in ``outliers.py``.

What it writes into DIR:

* ``kb.json``            the synthetic knowledge base (entities, one-hop facts,
                         two-hop compositions split into train / held-out)
* ``tokenizer.json``,    a word-level tokenizer (WordLevel + Whitespace, BOS ``<s>``
  ``tokenizer_config.json``, ``special_tokens_map.json``
* ``config.json``, ``generation_config.json``, ``model.safetensors``
                         a small ``LlamaForCausalLM`` (every dimension a multiple of 128)
* ``onehop.qfacts.yaml`` every one-hop fact (suite ``tiny-facts-onehop``)
* ``twohop.qfacts.yaml`` every two-hop fact (suite ``tiny-facts-twohop``, the two-hop format
                         of docs/twohop.md: e1, bridge e2, e3, both hops' templates, the
                         mention of e2); held-out ones are in compositions ``<composition>_heldout``
* ``metrics.json``       the accuracies measured at the end (reference, RTN W8/W4/W2 g64)

The fake quantization used for the metrics is round-to-nearest, asymmetric min-max
per group of G=64 input features (with zero point) applied to every ``nn.Linear``
except ``lm_head``.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

# run as a script (python tools/tiny_facts/train.py): this folder is sys.path[0]
from kb import SEED, SIZES, build_kb, dump_kb, kb_items, write_suites
from outliers import add_outlier_channels_, batch_tensors, evaluate, top1_correct

# ----------------------------------------------------------------------------- tokenizer

SPECIALS = ["[PAD]", "[UNK]", "<s>", "</s>"]


def _round_up(n: int, m: int = 128) -> int:
    return ((n + m - 1) // m) * m


def build_vocab(kb: dict) -> list[str]:
    words: list[str] = []
    seen = set(SPECIALS)
    templates = [s["template"] for s in kb["onehop"].values()] + [s["template"] for s in kb["twohop"].values()]
    for t in templates:
        for w in t.replace("{subject}", " ").split():
            if w not in seen:
                seen.add(w)
                words.append(w)
    for kind, names in kb["entities"].items():
        for w in names:
            assert w not in seen, w
            seen.add(w)
            words.append(w)
    vocab = SPECIALS + words
    size = _round_up(len(vocab))
    vocab += [f"<unused{i}>" for i in range(size - len(vocab))]
    return vocab


def write_tokenizer(vocab: list[str], out: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    ids = {w: i for i, w in enumerate(vocab)}
    tok = Tokenizer(models.WordLevel(vocab=ids, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", ids["<s>"])])
    from tokenizers import AddedToken
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    tok.save(str(out / "tokenizer.json"))
    special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "[UNK]", "pad_token": "[PAD]"}
    cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **special,
        "model_max_length": 128,
        "padding_side": "right",
        "add_bos_token": True,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
    }
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")


# ----------------------------------------------------------------------------- model


def make_config(vocab_size: int, args):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=args.hidden,
        intermediate_size=args.intermediate,
        num_hidden_layers=args.layers,
        num_attention_heads=args.hidden // 128,
        num_key_value_heads=args.hidden // 128,
        head_dim=128,
        max_position_embeddings=128,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
        hidden_act="silu",
        initializer_range=0.02,
        attention_bias=False,
        mlp_bias=False,
    )


def encode(tok_ids: dict[str, int], items, bos: int):
    """Token ids of ``<s> prompt`` and the object id for each (relation, prompt, object)."""
    prompts, objects = [], []
    for _, prompt, obj in items:
        prompts.append([bos] + [tok_ids[w] for w in prompt.split()])
        objects.append(tok_ids[obj])
    return prompts, objects


def train(args) -> None:
    import numpy as np
    import torch
    from safetensors.torch import save_file
    from transformers import LlamaForCausalLM

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    torch.set_flush_denormal(True)

    kb = build_kb(args.seed)
    (out / "kb.json").write_text(dump_kb(kb))
    write_suites(kb, out)
    vocab = build_vocab(kb)
    write_tokenizer(vocab, out)
    tok_ids = {w: i for i, w in enumerate(vocab)}
    bos = tok_ids["<s>"]

    items = kb_items(kb)
    sets = {k: encode(tok_ids, v, bos) for k, v in items.items()}
    train_prompts = sets["onehop"][0] + sets["twohop_train"][0]
    train_objects = sets["onehop"][1] + sets["twohop_train"][1]
    n = len(train_prompts)
    print(f"vocab {len(vocab)}  one-hop {len(items['onehop'])}  two-hop train {len(items['twohop_train'])}"
          f"  held-out {len(items['twohop_heldout'])}", flush=True)

    config = make_config(len(vocab), args)
    config._attn_implementation = "eager"
    model = LlamaForCausalLM(config)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"params {n_params}", flush=True)

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=args.wd)
    steps_per_epoch = math.ceil(n / args.batch)
    total = args.max_epochs * steps_per_epoch
    warm = args.warmup_epochs * steps_per_epoch

    def lr_at(step: int) -> float:
        if step < warm:
            return args.lr * (step + 1) / warm
        if args.schedule == "cosine":
            frac = (step - warm) / max(1, total - warm)
            return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * frac)))
        return args.lr

    g = torch.Generator().manual_seed(args.seed)
    step = 0
    done_epoch = None
    onehop_sets = {"onehop": sets["onehop"]}
    for epoch in range(args.max_epochs):
        model.train()
        perm = torch.randperm(n, generator=g).tolist()
        tot_loss = 0.0
        for b in range(0, n, args.batch):
            idx = perm[b:b + args.batch]
            p = [train_prompts[i] for i in idx]
            o = [train_objects[i] for i in idx]
            ids, mask, last = batch_tensors(p)
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
            logits = model.lm_head(hidden[torch.arange(len(p)), last])
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor(o))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            tot_loss += loss.item() * len(idx)
            step += 1
        if (epoch + 1) % args.eval_every == 0 or epoch == args.max_epochs - 1:
            model.eval()
            c, m = top1_correct(model, train_prompts, train_objects)
            acc = c.float().mean().item()
            msg = (f"epoch {epoch + 1:4d} step {step:5d} lr {lr_at(step - 1):.2e} loss {tot_loss / n:.4f} "
                   f"train-acc {acc:.4f} margin p5 {m.quantile(0.05).item():+.2f} med {m.median().item():+.2f}")
            if args.probe:
                import copy
                probe = copy.deepcopy(model)
                add_outlier_channels_(probe)
                r = evaluate(probe, onehop_sets, bits_list=(None, 8, 4, 3, 2))
                msg += " | " + " ".join(f"{k.replace('rtn-', '').replace('g64', '')}={v['onehop']:.3f}" for k, v in r.items())
            print(msg + f" t={time.time() - t0:.0f}s", flush=True)
            if done_epoch is None and acc >= args.stop_acc:
                done_epoch = epoch + 1
                print(f"memorized at epoch {done_epoch}; {args.extra_epochs} more", flush=True)
            if done_epoch is not None and epoch + 1 >= done_epoch + args.extra_epochs:
                break
    model.eval()
    train_time = time.time() - t0

    # ---- outlier channels (function-preserving, see add_outlier_channels_)
    if args.outliers:
        add_outlier_channels_(model)

    # ---- save
    model.config.dtype = "float32"
    model.config.architectures = ["LlamaForCausalLM"]
    model.config.save_pretrained(out)
    model.generation_config.bos_token_id = 2
    model.generation_config.eos_token_id = 3
    model.generation_config.pad_token_id = 0
    model.generation_config.save_pretrained(out)
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})

    # ---- evaluate
    res = evaluate(model, sets)
    res["train_seconds"] = round(train_time, 1)
    res["epochs"] = epoch + 1
    res["steps"] = step
    res["params"] = n_params
    (out / "metrics.json").write_text(json.dumps(res, indent=2) + "\n")
    for k, v in res.items():
        print(k, v)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output folder (the committed model: pytest_qfacts/models/tiny_facts)")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (results depend on it; keep 1)")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--intermediate", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--wd", type=float, default=0.01)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--warmup-epochs", type=int, default=5)
    ap.add_argument("--max-epochs", type=int, default=100, help="length of the cosine schedule")
    ap.add_argument("--stop-acc", type=float, default=0.999,
                    help="stop once this fraction of the training facts is recalled (top-1)")
    ap.add_argument("--extra-epochs", type=int, default=0, help="epochs to go on after that")
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument("--schedule", choices=["cosine", "const"], default="cosine")
    ap.add_argument("--min-lr-frac", type=float, default=0.0)
    ap.add_argument("--outliers", type=int, default=1, help="0: skip the outlier channels (experiments)")
    ap.add_argument("--probe", action="store_true", help="also report quantized one-hop accuracy at each evaluation")
    ap.add_argument("--size", action="append", default=[], metavar="KIND=N",
                    help="override an entity count (experiments only)")
    args = ap.parse_args(argv)
    for kv in args.size:
        k, v = kv.split("=")
        SIZES[k] = int(v)
    train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

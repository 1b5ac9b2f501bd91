"""Small random models of three families and a word tokenizer, for tracer and patching tests."""
import torch


class WordTokenizer:
    """A whitespace tokenizer over a fixed vocabulary, enough for the scorer (fast-tokenizer offsets included)."""

    is_fast = True
    pad_token_id = 0

    def __init__(self, words):
        self.vocab = {w: i + 1 for i, w in enumerate(words)}
        self.inverse = {i: w for w, i in self.vocab.items()}

    def __call__(self, text, add_special_tokens=True, return_offsets_mapping=False):
        ids, offsets, pos = [], [], 0
        for word in text.split():
            start = text.index(word, pos)
            pos = start + len(word)
            ids.append(self.vocab[word])
            offsets.append((start, pos))
        out = {"input_ids": ids}
        if return_offsets_mapping:
            out["offset_mapping"] = offsets
        return out

    def decode(self, ids):
        return " ".join(self.inverse.get(i, "?") for i in ids)


def random_model(family: str):
    """A 3-layer random model (hidden 32, vocab 16) of ``llama``, ``gpt2`` or ``opt``, in eval mode."""
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, OPTConfig

    torch.manual_seed(0)
    if family == "llama":
        cfg = LlamaConfig(vocab_size=16, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                          num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    elif family == "gpt2":
        cfg = GPT2Config(vocab_size=16, n_embd=32, n_layer=3, n_head=2, n_positions=64)
    else:
        cfg = OPTConfig(vocab_size=16, hidden_size=32, ffn_dim=64, num_hidden_layers=3, num_attention_heads=2,
                        word_embed_proj_dim=32, max_position_embeddings=64)
    return AutoModelForCausalLM.from_config(cfg).eval()

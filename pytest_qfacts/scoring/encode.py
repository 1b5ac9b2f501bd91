"""Turning fact items into token ids, and the gold-token rule.

Gold tokens: the tokens that ``" " + object`` adds after the prompt when
``prompt + " " + object`` is tokenized as one string (special tokens as the
tokenizer adds them to the prompt). If the prompt's own tokens are not a prefix
of that (a merge across the boundary), the object is tokenized alone as
``" " + object`` without special tokens.
"""
from __future__ import annotations

from dataclasses import dataclass

from pytest_qfacts.errors import QFactsUsageError
from pytest_qfacts.suites.schema import FactItem


@dataclass(frozen=True)
class EncodedItem:
    prompt_ids: tuple[int, ...]
    object_ids: tuple[int, ...]        # gold tokens of the main object
    answer_first_ids: tuple[int, ...]  # first gold token of the object and of each alias
    subject_last: int | None           # index in prompt_ids of the subject's last token

    @property
    def input_ids(self) -> tuple[int, ...]:
        """Prompt plus all object tokens but the last: its logits predict every object token."""
        return self.prompt_ids + self.object_ids[:-1]


def gold_token_ids(tokenizer, prompt: str, answer: str, prompt_ids: list[int] | None = None) -> list[int]:
    """The gold tokens of ``answer`` after ``prompt`` (see the module docstring)."""
    if prompt_ids is None:
        prompt_ids = tokenizer(prompt)["input_ids"]
    full = tokenizer(prompt + " " + answer)["input_ids"]
    if full[: len(prompt_ids)] == list(prompt_ids) and len(full) > len(prompt_ids):
        return list(full[len(prompt_ids):])
    return list(tokenizer(" " + answer, add_special_tokens=False)["input_ids"])


def encode_item(tokenizer, item: FactItem) -> EncodedItem:
    enc = tokenizer(item.prompt, return_offsets_mapping=bool(item.subject_span) and tokenizer.is_fast)
    prompt_ids = list(enc["input_ids"])
    if not prompt_ids:
        raise QFactsUsageError(f"relation '{item.relation}': prompt {item.prompt!r} tokenizes to nothing")
    object_ids = gold_token_ids(tokenizer, item.prompt, item.object, prompt_ids)
    if not object_ids:
        raise QFactsUsageError(f"relation '{item.relation}': object {item.object!r} tokenizes to nothing")
    unknown = _unknown_id(tokenizer)
    _refuse_unknown(tokenizer, item, item.object, object_ids, unknown)
    firsts = [object_ids[0]]
    for alias in item.aliases:
        ids = gold_token_ids(tokenizer, item.prompt, alias, prompt_ids)
        _refuse_unknown(tokenizer, item, alias, ids, unknown)
        if ids and ids[0] not in firsts:
            firsts.append(ids[0])
    return EncodedItem(tuple(prompt_ids), tuple(object_ids), tuple(firsts), _subject_last(enc, item))


def _unknown_id(tokenizer) -> int | None:
    """The id of the tokenizer's unknown token, or None when it has none or it doubles as a real special token
    (GPT-2-style byte-level tokenizers name ``<|endoftext|>`` as unk; they never need it)."""
    unk = getattr(tokenizer, "unk_token_id", None)
    special = {getattr(tokenizer, f"{name}_token_id", None) for name in ("bos", "eos", "pad", "sep", "cls")}
    return None if unk is None or unk in special else unk


def _refuse_unknown(tokenizer, item: FactItem, answer: str, gold_ids: list[int], unknown: int | None) -> None:
    """Refuse an object or alias whose gold tokens hold the unknown token: every word outside the vocabulary
    would score as that one token (word-level tokenizers), so recall on it means nothing."""
    if unknown is None or unknown not in gold_ids:
        return
    text = " " + answer
    words: list[str] = []
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        words = [text[a:b] for i, (a, b) in zip(enc["input_ids"], enc["offset_mapping"]) if i == unknown]
    who = f"subject {item.subject!r}" if item.subject is not None else f"prompt {item.prompt!r}"
    label, remove = (f"object {answer!r}", "the fact") if answer == item.object else \
        (f"alias {answer!r} of object {item.object!r}", "the alias")
    raise QFactsUsageError(
        f"relation '{item.relation}', {who}: {label} is not in the tokenizer's vocabulary "
        f"({', '.join(map(repr, words or [answer]))} becomes its unknown token {tokenizer.unk_token!r}, id {unknown}, "
        f"which every unknown word shares), so it cannot be scored; use words the tokenizer knows, or remove {remove}")


def _subject_last(enc, item: FactItem) -> int | None:
    if not item.subject_span or "offset_mapping" not in enc:
        return None
    start, end = item.subject_span
    last = None
    for index, (a, b) in enumerate(enc["offset_mapping"]):
        if b > a and a < end and b > start:
            last = index
    return last


def encode_items(tokenizer, items: list[FactItem]) -> list[EncodedItem]:
    return [encode_item(tokenizer, item) for item in items]

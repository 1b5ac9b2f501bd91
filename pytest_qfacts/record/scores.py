"""FactScores: what one model says about each fact of a suite (plain numpy arrays)."""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass
class FactScores:
    """Per-fact scores, aligned with ``Suite.items()``.

    gold_rank: 1-based rank of the best answer's first gold token at the last
        prompt position: rank(t) = 1 + #{v : logit_v > logit_t} (ties favour gold).
    top1: ``gold_rank == 1`` (any alias counts).
    first_logprob: log p(first gold token of the object | prompt), nats.
    object_logprob: sum of log p over all gold tokens of the object, teacher-forced, nats.
    topk_ids / topk_logprobs: the model's k most likely next tokens at the last prompt position.
    """

    gold_rank: np.ndarray
    top1: np.ndarray
    first_logprob: np.ndarray
    object_logprob: np.ndarray
    topk_ids: np.ndarray
    topk_logprobs: np.ndarray
    topk_tokens: list[list[str]]
    gold_first: np.ndarray | None = None  # first gold token id of each object [N]

    def __len__(self) -> int:
        return int(self.gold_rank.shape[0])

    def arrays(self) -> dict[str, np.ndarray]:
        """The numeric fields, for storage (safetensors / JSON)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "topk_tokens" and getattr(self, f.name) is not None}

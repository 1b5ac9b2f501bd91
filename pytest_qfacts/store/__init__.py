"""On-disk stores: stored runs and reference baselines, and the one atomic write (``atomic.py``).

Everything pytest-qfacts writes goes through ``pytest_qfacts.atomic`` (staged in ``.qfacts-tmp/`` beside
the target, then renamed; what a killed process leaves there is swept), only in safe formats
(safetensors for arrays, JSON for the rest); nothing is ever read with pickle. The quantized-model
cache is ``quant/cache.py``.
"""

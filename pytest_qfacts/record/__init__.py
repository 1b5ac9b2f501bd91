"""The records handed between stages: what one model said about one suite (``ModelRun``).

Plain numpy arrays and JSON-ready metadata; no torch. ``store/runs.py`` writes and reads
them (safetensors + a JSON header); ``compare/`` pairs two of them.
"""
from pytest_qfacts.record.model_run import RECORD_FORMAT, ModelRun, RunInfo
from pytest_qfacts.record.scores import FactScores

__all__ = ["RECORD_FORMAT", "FactScores", "ModelRun", "RunInfo"]

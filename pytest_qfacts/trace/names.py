"""Probe names (no torch here: the plugin reads them at start-up)."""

PROBES = ("lens", "cka", "ffn", "attention", "svd", "neurons")
#: the probes the failure-mode verdict needs; they run by default
VERDICT_PROBES = ("lens", "cka", "ffn")

"""Probe names (no torch here: the plugin reads them at start-up)."""

#: probes recorded in the scoring forward ("all" means these)
PROBES = ("lens", "cka", "ffn", "attention", "svd", "neurons")
#: probes that need extra forwards; run only when named (cost in trace/patching.py)
EXTRA_PROBES = ("patching",)
#: the probes the failure-mode verdict needs; they run by default
VERDICT_PROBES = ("lens", "cka", "ffn")

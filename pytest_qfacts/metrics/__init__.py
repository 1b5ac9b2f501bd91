"""Metrics on scored facts: ranks, accuracy and paired significance tests (pure numpy)."""

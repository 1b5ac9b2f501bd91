"""Teacher-forced recall scoring: with ``trace/``, the only code that runs a forward pass."""

"""Recording activations in the scoring forward: module discovery and hooks (torch only inside)."""

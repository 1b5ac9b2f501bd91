"""On-disk stores: stored reference baselines and the quantized-model cache.

Everything here is written atomically (temporary file or folder in the same
directory, then a rename) under a file lock, and only in safe formats
(safetensors for arrays, JSON for the rest); nothing is ever read with pickle.
"""

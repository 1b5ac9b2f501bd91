"""Whether the Hugging Face hub may and can be asked for a model (no torch, no transformers).

``hub_offline()``: ``HF_HUB_OFFLINE`` as huggingface_hub reads it (read here, at each call:
the library reads it once, when imported).

``hub_unreachable()``: why the hub cannot be reached, or None. Without network access
huggingface_hub retries every request five times with growing waits, about 25 s per
file and 50 s per model; one TCP connection to the hub's host (``HF_ENDPOINT``), given
at most ``HUB_PROBE_TIMEOUT_S``, tells the same in milliseconds. With a proxy configured
the connection would go through it, so the probe stands aside (returns None) and the
download is tried as usual.
"""
from __future__ import annotations

import os
import socket

HUB_PROBE_TIMEOUT_S = 5.0
OFFLINE_VALUES = ("1", "ON", "YES", "TRUE")  # huggingface_hub's truthy spellings of HF_HUB_OFFLINE
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
DEFAULT_PORTS = {"https": 443, "http": 80}


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in OFFLINE_VALUES


def hub_unreachable() -> str | None:
    """``"cannot connect to HOST:PORT (reason)"`` when one connection to the hub fails, else None."""
    if any(os.environ.get(name) for name in PROXY_VARIABLES):
        return None
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    url = urlsplit(constants.ENDPOINT)
    host, port = url.hostname, url.port or DEFAULT_PORTS.get(url.scheme, DEFAULT_PORTS["https"])
    try:
        socket.create_connection((host, port), timeout=HUB_PROBE_TIMEOUT_S).close()
    except OSError as err:
        return f"cannot connect to {host}:{port} ({err})"
    return None

"""A hash of the prepared data: two searches with equal fingerprints trained on the same data."""

from __future__ import annotations

import hashlib
import json

import numpy as np

# Bump when a change to preparation changes the arrays for the same input.
PIPELINE_VERSION = 1


def fingerprint(arrays: dict[str, np.ndarray], settings: dict) -> str:
    """sha256 over each array's name, dtype, shape and contents, then the settings as JSON.

    NaN is hashed as a separate mask, so padding hashes the same whatever NaN bit pattern the
    reader produced. Feature names are left out on purpose: the same numbers from an NPZ and
    from a CSV with named columns are the same data.
    """
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        if array.dtype.kind == "f":
            nan = np.isnan(array)
            digest.update(np.packbits(nan).tobytes())
            array = np.where(nan, 0, array)
        digest.update(array.tobytes())
    payload = {"pipeline_version": PIPELINE_VERSION, **settings}
    digest.update(json.dumps(payload, sort_keys=True, default=str).encode())
    return digest.hexdigest()

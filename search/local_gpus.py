"""How many GPUs a local Ray would find on this machine, counted without importing TensorFlow
or Ray (either takes seconds, too long for `gru-search validate`).

Ray's own count (ray._private.accelerators.nvidia_gpu, Ray 2.60): NVML's device count (0 when
the NVIDIA driver's library does not load or answer), capped by the ids in CUDA_VISIBLE_DEVICES
when that is set. This mirrors it through ctypes. Ray also counts AMD GPUs (through ROCm) and
Apple's Metal GPU as `GPU`; where one of those may be present the count is unknown (None), so a
check built on it never refuses a spec that would run.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

_NVML_SUCCESS = 0
# The device ROCm opens; present on a Linux machine with an AMD GPU driver.
_AMD_DEVICE = Path("/dev/kfd")


def visible_gpus() -> int | None:
    """GPUs a local `ray.init()` would report here, or None when that cannot be told."""
    count = nvidia_device_count()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        # Ray reads "" and "NoDevFiles" as no device, else a comma-separated list of ids.
        ids = [] if visible in ("", "NoDevFiles") else visible.split(",")
        count = min(count, len(ids))
    if count == 0 and (not sys.platform.startswith("linux") or _AMD_DEVICE.exists()):
        return None
    return count


def nvidia_device_count() -> int:
    """NVML's count of NVIDIA GPUs, 0 where the driver's library is absent or fails."""
    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return 0
    try:
        if nvml.nvmlInit_v2() != _NVML_SUCCESS:
            return 0
    except AttributeError:  # a library too old to be a driver Ray could use
        return 0
    try:
        count = ctypes.c_uint(0)
        if nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) != _NVML_SUCCESS:
            return 0
        return count.value
    finally:
        nvml.nvmlShutdown()

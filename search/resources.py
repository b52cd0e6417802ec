"""Whether a trial's resources fit any node of the Ray cluster, before a search asks for them.

Ray Tune keeps a trial that no node can hold PENDING forever (with a warning in its own log), so
a spec asking for 8 CPUs per trial on 4-CPU nodes would wait out its whole budget. Ray-free: the
caller passes what `ray.nodes()` reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from search.errors import ClusterError


def check_trial_fits(cpu: float, gpu: float, nodes: Iterable[Mapping], address: str) -> None:
    """Raises ClusterError naming what the cluster has when no alive node has `cpu` CPUs and
    `gpu` GPUs. `nodes` are `ray.nodes()` entries ({"Alive": bool, "Resources": {...}})."""
    alive = [node.get("Resources", {}) for node in nodes if node.get("Alive", True)]
    if any(r.get("CPU", 0) >= cpu and r.get("GPU", 0) >= gpu for r in alive):
        return
    has = "; ".join(sorted({_resources(r.get("CPU", 0), r.get("GPU", 0)) for r in alive}))
    raise ClusterError(
        f"search.resources_per_trial asks for {_resources(cpu, gpu)} per trial, but no node of "
        f"the Ray cluster at {address!r} has that (its nodes have {has or 'nothing'}); lower "
        "search.resources_per_trial or add a node that has them."
    )


def _resources(cpu: float, gpu: float) -> str:
    return f"{cpu:g} CPU, {gpu:g} GPU"

"""search.resources: a trial that no node of the cluster can hold is refused before it waits."""

from __future__ import annotations

import pytest

from search.errors import ClusterError
from search.resources import check_trial_fits

NODES = [
    {"Alive": True, "Resources": {"CPU": 4.0, "memory": 1e9}},
    {"Alive": True, "Resources": {"CPU": 2.0, "GPU": 1.0}},
    {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}},  # a dead node holds nothing
]


@pytest.mark.parametrize("cpu, gpu", [(4, 0), (2, 1), (0.5, 0.5), (1, 0)])
def test_a_trial_one_alive_node_can_hold_passes(cpu, gpu):
    check_trial_fits(cpu, gpu, NODES, "ray://head:10001")


@pytest.mark.parametrize("cpu, gpu", [(8, 0), (4, 1), (1, 2)])
def test_a_trial_no_alive_node_can_hold_names_what_the_cluster_has(cpu, gpu):
    with pytest.raises(ClusterError) as error:
        check_trial_fits(cpu, gpu, NODES, "ray://head:10001")
    assert str(error.value) == (
        f"search.resources_per_trial asks for {cpu:g} CPU, {gpu:g} GPU per trial, but no node of "
        "the Ray cluster at 'ray://head:10001' has that (its nodes have 2 CPU, 1 GPU; 4 CPU, 0 "
        "GPU); lower search.resources_per_trial or add a node that has them."
    )

"""Data parallelism with `jax.sharding`: envs and batches split over devices, parameters replicated.

Every training state here names the fields holding per-environment data in its class's
`PER_ENV_FIELDS` (the rollout, and DAgger's dataset); those are sharded on their
leading (env) axis over a 1-D device mesh and everything else is replicated.
Under `jit`, GSPMD then turns the batch means of the losses into cross-device reductions, so
gradients are averaged over all devices without any explicit collective. Multi-host runs call
`initialize` first; the mesh then spans the devices of all hosts.
"""

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

BATCH_AXIS = "batch"


def initialize(run_config) -> None:
    """Joins a multi-host job when `run_config.distributed` is set; a no-op otherwise.

    Coordinator address, process count and process id come from `run_config` where given (non-empty,
    non-negative), else `jax.distributed.initialize` detects them from the cluster (SLURM, Open MPI, Kubernetes,
    TPU pods). On CPU the processes' collectives go over gloo (jax's default `jax_cpu_collectives_implementation`).
    """
    if not run_config.distributed:
        return
    jax.distributed.initialize(
        coordinator_address=run_config.coordinator_address or None,
        num_processes=run_config.num_processes if run_config.num_processes >= 0 else None,
        process_id=run_config.process_id if run_config.process_id >= 0 else None)


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh over `devices` (default: all devices of all hosts)."""
    return Mesh(np.asarray(devices if devices is not None else jax.devices()), (BATCH_AXIS,))


def check_divisible(num_envs: int, mesh: Mesh) -> None:
    """Raises when the envs cannot be split evenly over the mesh."""
    if num_envs % mesh.size:
        raise ValueError(f"num_envs={num_envs} must be a multiple of the number of devices ({mesh.size})")


def state_shardings(abstract_state: Any, mesh: Mesh) -> Any:
    """Shardings for a training state: its per-env fields split on their leading env axis, the rest replicated.

    The per-env fields are those the state's class names in `PER_ENV_FIELDS`.
    """
    replicated = NamedSharding(mesh, PartitionSpec())
    batched = NamedSharding(mesh, PartitionSpec(BATCH_AXIS))
    shardings = jax.tree.map(lambda _: replicated, abstract_state)
    return shardings.replace(**{name: jax.tree.map(lambda _: batched, getattr(abstract_state, name))
                                for name in abstract_state.PER_ENV_FIELDS})


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def to_host(tree: Any) -> Any:
    """Fetches replicated arrays (metrics, parameters) to numpy on any host."""
    return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)

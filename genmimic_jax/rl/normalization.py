"""Running observation normalisation over the observation dict (brax's running statistics).

The statistics live in the training state and are updated once per rollout; networks see
`normalize(obs, state.mean[key], state.std[key], clip)`; export folds them into the ONNX graph.
"""

from collections.abc import Mapping

import jax
import jax.numpy as jnp
from brax.training.acme import running_statistics

NormalizerState = running_statistics.RunningStatisticsState

STD_EPS = 1e-4  # variance floor: constant features get std 0.01 rather than exploding


def init(obs_sizes: Mapping[str, int]) -> NormalizerState:
    """Zero-mean, unit-std statistics for each observation key."""
    state = running_statistics.init_state({key: jnp.zeros((size,)) for key, size in obs_sizes.items()})
    # A typed array rather than a Python float: checkpoints restore it as one, so the jitted update
    # sees the same input types before and after a resume (no recompilation).
    return state.replace(std_eps=jnp.asarray(STD_EPS, jnp.float32))


def update(state: NormalizerState, obs: Mapping[str, jax.Array]) -> NormalizerState:
    """Adds a batch of observations (any leading batch dims) to the statistics."""
    return running_statistics.update(state, {key: obs[key] for key in state.mean})


def normalize(obs: jax.Array, mean: jax.Array, std: jax.Array, clip: float) -> jax.Array:
    """clip((obs - mean) / std, -clip, clip): what a network sees of a raw observation."""
    return jnp.clip((obs - mean) / std, -clip, clip)

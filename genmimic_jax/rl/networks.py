"""Actor and critic MLPs (flax linen) and the diagonal Gaussian policy over raw actions.

Policy parameters are one dict: `{'actor': ..., 'critic': ..., 'log_std': [A]}`. The actor
maps a normalised observation to the action mean; the standard deviation is a learned,
state-independent vector. A distilled student keeps only `{'actor': ...}`.
"""

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Params = Any


@dataclasses.dataclass(frozen=True)
class Activation:
    """A hidden activation: the flax function training applies and the ONNX operator export writes for it.

    Attributes:
      fn: the function.
      onnx_op: an ONNX operator computing `fn` with its default attributes, or its gate (see `gated`).
      gated: `fn(x)` is x * onnx_op(x) (silu: x * sigmoid(x)).
    """

    fn: Callable[[jax.Array], jax.Array]
    onnx_op: str
    gated: bool = False


# The one table of activations: every one trains and exports (network.activation must be a key).
ACTIVATIONS: dict[str, Activation] = {
    "elu": Activation(nn.elu, "Elu"),
    "relu": Activation(nn.relu, "Relu"),
    "tanh": Activation(nn.tanh, "Tanh"),
    "silu": Activation(nn.silu, "Sigmoid", gated=True),
}


class MLP(nn.Module):
    """Dense layers with an activation between them; orthogonal initialisation.

    Attributes:
      hidden_sizes: widths of the hidden layers.
      output_size: width of the linear output layer.
      activation: name of the hidden activation (a key of `ACTIVATIONS`).
      output_scale: orthogonal-init gain of the output layer (small for a policy mean).
    """

    hidden_sizes: Sequence[int]
    output_size: int
    activation: str = "elu"
    output_scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation].fn
        for size in self.hidden_sizes:
            x = act(nn.Dense(size, kernel_init=nn.initializers.orthogonal(np.sqrt(2.0)))(x))
        return nn.Dense(self.output_size, kernel_init=nn.initializers.orthogonal(self.output_scale))(x)


class ActorCritic(NamedTuple):
    """The two networks of a PPO agent and how to initialise their parameters."""

    actor: MLP
    critic: MLP
    init_log_std: float

    def init(self, rng: jax.Array, actor_obs_size: int, critic_obs_size: int) -> Params:
        actor_rng, critic_rng = jax.random.split(rng)
        return {
            "actor": self.actor.init(actor_rng, jnp.zeros((1, actor_obs_size)))["params"],
            "critic": self.critic.init(critic_rng, jnp.zeros((1, critic_obs_size)))["params"],
            "log_std": jnp.full((self.actor.output_size,), self.init_log_std, jnp.float32),
        }

    def value(self, params: Params, obs: jax.Array) -> jax.Array:
        return self.critic.apply({"params": params["critic"]}, obs)[..., 0]


def make_actor(hidden_sizes: Sequence[int], action_size: int, activation: str) -> MLP:
    """The policy-mean network (teacher and student alike); refuses an activation not in `ACTIVATIONS`."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"network.activation={activation!r} is not one of {sorted(ACTIVATIONS)}")
    return MLP(tuple(hidden_sizes), action_size, activation, output_scale=0.01)


def make_actor_critic(config, action_size: int) -> ActorCritic:
    """Builds the networks from `config.network` (actor_hidden, critic_hidden, activation, init_log_std)."""
    net = config.network
    return ActorCritic(
        actor=make_actor(net.actor_hidden, action_size, net.activation),
        critic=MLP(tuple(net.critic_hidden), 1, net.activation, output_scale=1.0),
        init_log_std=float(net.init_log_std),
    )


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, action: jax.Array) -> jax.Array:
    """Log-density of a diagonal Gaussian, summed over the last axis."""
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2.0 * jnp.pi), axis=-1)


def gaussian_entropy(log_std: jax.Array) -> jax.Array:
    """Entropy of a diagonal Gaussian with the given log standard deviations."""
    return jnp.sum(log_std + 0.5 * jnp.log(2.0 * jnp.pi * jnp.e), axis=-1)


def gaussian_kl(mean_p: jax.Array, log_std_p: jax.Array, mean_q: jax.Array, log_std_q: jax.Array) -> jax.Array:
    """KL(p || q) between diagonal Gaussians, summed over the last axis."""
    var_ratio = jnp.exp(2.0 * (log_std_p - log_std_q))
    mean_term = ((mean_p - mean_q) * jnp.exp(-log_std_q)) ** 2
    return jnp.sum(0.5 * (var_ratio + mean_term - 1.0) - (log_std_p - log_std_q), axis=-1)

"""A trained policy read back from a run directory of `experiments.train` (teacher) or `experiments.distill`.

A teacher run holds the PPO actor; a student run holds the DAgger student and, frozen inside its state, the
teacher it was distilled from, so `which='teacher'` on a student run gives that teacher.
"""

import dataclasses
import pathlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from genmimic_jax.errors import InputError
from genmimic_jax.rl.checkpointing import CheckpointError, Checkpointer
from genmimic_jax.rl.networks import make_actor

POLICY_KINDS = ("auto", "teacher", "student")
# The training-state fields a policy is read from (a student run's also holds its frozen teacher).
_POLICY_FIELDS = ("params", "normalizer", "teacher")


class PolicyLoadError(InputError):
    """A run directory without a usable policy; the message names the directory and the problem."""


@dataclasses.dataclass(frozen=True)
class Policy:
    """An MLP actor with the observation statistics it was trained with (numpy arrays).

    Attributes:
      kind: 'teacher' or 'student'.
      obs_key: the observation it reads ('privileged' or 'actor').
      actor_params: flax params of the actor (`Dense_i` kernels and biases); outputs actions in MuJoCo order.
      obs_mean, obs_std: [D] normaliser statistics; the actor sees clip((obs - mean) / std, -obs_clip, obs_clip).
      obs_clip: see above.
      hidden_sizes, activation: the actor's architecture.
      step: the update the checkpoint was taken at.
      run_config: the run's config (a dict), with the environment it was trained in under 'env'.
      run_dir: where it came from.
    """

    kind: str
    obs_key: str
    actor_params: dict[str, Any]
    obs_mean: np.ndarray
    obs_std: np.ndarray
    obs_clip: float
    hidden_sizes: tuple[int, ...]
    activation: str
    step: int
    run_config: dict[str, Any]
    run_dir: pathlib.Path

    @property
    def obs_size(self) -> int:
        return int(self.obs_mean.shape[0])

    @property
    def action_size(self) -> int:
        return int(self.actor_params[f"Dense_{len(self.hidden_sizes)}"]["bias"].shape[0])

    def jax_fn(self) -> Callable[[jax.Array], jax.Array]:
        """obs [N, D] (raw) -> deterministic action [N, A] (the mean; for the G1 29 in MuJoCo order); pure and jittable."""
        network = make_actor(self.hidden_sizes, self.action_size, self.activation)
        params = jax.tree.map(jnp.asarray, self.actor_params)
        mean, std, clip = jnp.asarray(self.obs_mean), jnp.asarray(self.obs_std), self.obs_clip
        return lambda obs: network.apply({"params": params}, jnp.clip((obs - mean) / std, -clip, clip))


def load_policy(run_dir: str | pathlib.Path, which: str = "auto", step: int | None = None) -> Policy:
    """Reads the policy of a run directory (latest checkpoint unless `step`).

    Args:
      run_dir: a teacher (`experiments.train`) or student (`experiments.distill`) run directory.
      which: 'auto' (the run's own policy), 'teacher' or 'student'.
      step: checkpoint step to read; default the latest.

    Raises:
      PolicyLoadError: no checkpoint, or the run does not hold the asked policy.
    """
    run_dir = pathlib.Path(run_dir)
    if which not in POLICY_KINDS:
        raise PolicyLoadError(f"{run_dir}: policy must be one of {POLICY_KINDS}, got {which!r}")
    if not (run_dir / "checkpoints").is_dir():
        raise PolicyLoadError(f"{run_dir}: not a run directory (no checkpoints/ folder)")
    checkpointer = Checkpointer(run_dir / "checkpoints")
    try:
        state, config = checkpointer.restore_raw(step, fields=_POLICY_FIELDS)
        step = checkpointer.latest_step() if step is None else step
    except (CheckpointError, OSError, ValueError, KeyError, TypeError) as error:  # missing, truncated, foreign
        raise PolicyLoadError(f"{run_dir}: cannot read the checkpoint ({' '.join(str(error).split())})") from None
    finally:
        checkpointer.close()
    try:
        return _policy_from(run_dir, which, step, state, config)
    except (KeyError, TypeError, AttributeError, IndexError) as error:
        raise PolicyLoadError(f"{run_dir}: the checkpoint lacks {' '.join(str(error).split())} (a run of another "
                              "task, or of an older format?)") from None


def _policy_from(run_dir: pathlib.Path, which: str, step: int, state: dict, config: dict) -> Policy:
    """The policy `which` of a restored checkpoint (see `load_policy`)."""
    is_student_run = "dagger" in config
    kind = ("student" if is_student_run else "teacher") if which == "auto" else which
    if kind == "student" and not is_student_run:
        raise PolicyLoadError(f"{run_dir}: a teacher run has no student policy (distill one with experiments.distill)")
    if kind == "student":
        obs_key = config["dagger"]["student_obs"]
        actor, network = state["params"]["actor"], config["network"]
        mean, std = state["normalizer"]["mean"][obs_key], state["normalizer"]["std"][obs_key]
        obs_clip = config["dagger"]["obs_clip"]
    elif is_student_run:
        obs_key, network = config["teacher"]["actor_obs"], config["teacher"]["network"]
        actor, mean, std = state["teacher"]["actor_params"], state["teacher"]["obs_mean"], state["teacher"]["obs_std"]
        obs_clip = config["teacher"]["obs_clip"]
    else:
        obs_key, network = config["ppo"]["actor_obs"], config["network"]
        actor = state["params"]["actor"]
        mean, std = state["normalizer"]["mean"][obs_key], state["normalizer"]["std"][obs_key]
        obs_clip = config["ppo"]["obs_clip"]
    return Policy(kind=kind, obs_key=obs_key, actor_params=jax.tree.map(np.asarray, actor),
                  obs_mean=np.asarray(mean, np.float32), obs_std=np.asarray(std, np.float32),
                  obs_clip=float(obs_clip), hidden_sizes=tuple(int(h) for h in network["actor_hidden"]),
                  activation=str(network["activation"]), step=int(step), run_config=config, run_dir=run_dir)

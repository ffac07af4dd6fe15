"""How a policy acts, in one place: raw observation -> normalised and clipped -> actor MLP -> action mean.

`make_inference_fn` (brax style) is what PPO, DAgger (student and teacher), evaluation and export all apply.
`Policy` is the frozen form: the actor's parameters, the statistics of the observation it reads and its
architecture. DAgger distills from one, a student checkpoint holds its teacher as one, and `load_policy` reads one
back from the run directory of `experiments.train` (teacher) or `experiments.distill` (student).
"""

import dataclasses
import os
import pathlib
from collections.abc import Callable, Mapping
from typing import Any

import flax.struct
import jax
import numpy as np

from genmimic_jax.errors import InputError, one_line
from genmimic_jax.rl import normalization
from genmimic_jax.rl.checkpointing import CheckpointError, Checkpointer
from genmimic_jax.rl.networks import MLP, Params, make_actor

PolicyFn = Callable[[jax.Array], jax.Array]  # raw observations [..., D] -> action means [..., A]
POLICY_KINDS = ("auto", "teacher", "student")
# The training-state fields a policy is read from (a student run's also holds its frozen teacher).
_POLICY_FIELDS = ("params", "normalizer", "teacher")


def make_inference_fn(actor: MLP, obs_clip: float) -> Callable[[Params, jax.Array, jax.Array], PolicyFn]:
    """`make_policy(actor_params, obs_mean, obs_std)` -> the deterministic policy (pure, jittable)."""

    def make_policy(actor_params: Params, obs_mean: jax.Array, obs_std: jax.Array) -> PolicyFn:
        def policy(obs: jax.Array) -> jax.Array:
            return actor.apply({"params": actor_params}, normalization.normalize(obs, obs_mean, obs_std, obs_clip))

        return policy

    return make_policy


@flax.struct.dataclass
class Policy:
    """A frozen deterministic policy (a pytree of its arrays; the rest is static).

    Attributes:
      actor_params: flax params of the actor (`Dense_i` kernels and biases); for the G1, actions in MuJoCo order.
      obs_mean, obs_std: [D] statistics of the observation it reads: the actor sees
        clip((obs - mean) / std, -obs_clip, obs_clip).
      obs_key: the observation it reads ('privileged' or 'actor').
      obs_clip: see above.
      hidden_sizes, activation: the actor's architecture (`networks.make_actor`).
    """

    actor_params: Params
    obs_mean: jax.Array
    obs_std: jax.Array
    obs_key: str = flax.struct.field(pytree_node=False)
    obs_clip: float = flax.struct.field(pytree_node=False)
    hidden_sizes: tuple[int, ...] = flax.struct.field(pytree_node=False)
    activation: str = flax.struct.field(pytree_node=False)

    @property
    def obs_size(self) -> int:
        return int(self.obs_mean.shape[0])

    @property
    def action_size(self) -> int:
        return int(self.actor_params[f"Dense_{len(self.hidden_sizes)}"]["bias"].shape[0])

    def inference_fn(self) -> PolicyFn:
        """obs [..., D] (raw) -> action mean [..., A]."""
        actor = make_actor(self.hidden_sizes, self.action_size, self.activation)
        return make_inference_fn(actor, self.obs_clip)(self.actor_params, self.obs_mean, self.obs_std)


class PolicyLoadError(InputError):
    """A run directory without a usable policy; the message names the directory and the problem."""


def check_observation(policy: Policy, observation_size: dict[str, int], source: str | os.PathLike) -> None:
    """Raises PolicyLoadError when `policy` (read from `source`) does not read an observation of the env's size
    (`observation_size`: observation key -> size, e.g. `TrackingEnv.observation_size`)."""
    expected = observation_size[policy.obs_key]
    if policy.obs_size != expected:
        raise PolicyLoadError(f"{source}: the policy reads a {policy.obs_size}-number '{policy.obs_key}' observation, "
                              f"this version's environment makes {expected}: it was trained with an older "
                              "observation layout; train it again")


@dataclasses.dataclass(frozen=True)
class SavedPolicy:
    """A policy read from a run directory, and where it came from.

    Attributes:
      policy: the policy (numpy arrays).
      kind: 'teacher' or 'student'.
      step: the update the checkpoint was taken at.
      run_config: the run's config (a dict), with the environment it was trained in under 'env'.
      run_dir: the run directory.
    """

    policy: Policy
    kind: str
    step: int
    run_config: dict[str, Any]
    run_dir: pathlib.Path


def load_policy(run_dir: str | pathlib.Path, which: str = "auto", step: int | None = None) -> SavedPolicy:
    """Reads the policy of a run directory (latest checkpoint unless `step`).

    A teacher run holds the PPO actor; a student run holds the DAgger student and, frozen in its state, the
    teacher it was distilled from, so `which='teacher'` on a student run gives that teacher.

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
    checkpointer = Checkpointer(run_dir / "checkpoints", read_only=True)
    try:
        state, config = checkpointer.restore_raw(step, fields=_POLICY_FIELDS)
        step = checkpointer.latest_step() if step is None else step
    except (CheckpointError, OSError, ValueError, KeyError, TypeError) as error:  # missing, truncated, foreign
        raise PolicyLoadError(f"{run_dir}: cannot read the checkpoint ({one_line(error)})") from None
    finally:
        checkpointer.close()
    is_student_run = "dagger" in config
    kind = ("student" if is_student_run else "teacher") if which == "auto" else which
    if kind == "student" and not is_student_run:
        raise PolicyLoadError(f"{run_dir}: a teacher run has no student policy (distill one with experiments.distill)")
    try:
        policy = policy_of(state, config, kind)
    except (KeyError, TypeError, AttributeError, IndexError) as error:
        raise PolicyLoadError(f"{run_dir}: the checkpoint lacks {one_line(error)} (a run of another task, or of an "
                              "older format?)") from None
    return SavedPolicy(policy=policy, kind=kind, step=int(step), run_config=config, run_dir=run_dir)


def policy_of(state: Mapping[str, Any], config: Mapping[str, Any], kind: str) -> Policy:
    """The policy a training state holds, as numpy arrays.

    Args:
      state: the state as nested dicts (as checkpoints restore it, or `flax.serialization.to_state_dict` of a
        `PPOState` or `DAggerState`).
      config: the run's config as a dict (a student run's has a 'dagger' block).
      kind: 'teacher' (a teacher run's PPO actor, or the teacher frozen in a student run) or 'student'.
    """
    if kind == "teacher" and "dagger" in config:
        teacher = config["teacher"]
        obs_key, network, obs_clip = teacher["actor_obs"], teacher["network"], teacher["obs_clip"]
        actor, mean, std = (state["teacher"][key] for key in ("actor_params", "obs_mean", "obs_std"))
    else:
        learner = config["dagger"] if kind == "student" else config["ppo"]
        obs_key = learner["student_obs"] if kind == "student" else learner["actor_obs"]
        network, obs_clip = config["network"], learner["obs_clip"]
        actor = state["params"]["actor"]
        mean, std = state["normalizer"]["mean"][obs_key], state["normalizer"]["std"][obs_key]
    return Policy(actor_params=jax.tree.map(np.asarray, actor), obs_mean=np.asarray(mean, np.float32),
                  obs_std=np.asarray(std, np.float32), obs_key=obs_key, obs_clip=float(obs_clip),
                  hidden_sizes=tuple(int(h) for h in network["actor_hidden"]), activation=str(network["activation"]))

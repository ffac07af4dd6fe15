"""DAgger: the student's action error against the teacher falls during distillation."""

import jax
import ml_collections
import numpy as np
import pytest

from configs import distill as distill_config
from genmimic_jax.rl import dagger
from rl_toy_runs import train_toy


def _distill_config(teacher_config: ml_collections.ConfigDict, num_updates: int) -> ml_collections.ConfigDict:
    config = distill_config.get_config()
    config.network.actor_hidden = (64, 64)
    config.dagger.num_updates = num_updates
    config.dagger.rollout_length = 32
    config.teacher = ml_collections.ConfigDict({"network": teacher_config.network.to_dict(),
                                                "actor_obs": teacher_config.ppo.actor_obs,
                                                "obs_clip": teacher_config.ppo.obs_clip})
    return config


def test_student_action_error_falls():
    teacher_config, env, teacher_state, _ = train_toy(actor_coef=1.0)
    teacher = dagger.teacher_from_ppo(teacher_state.params, teacher_state.normalizer, teacher_config.ppo.actor_obs)
    config = _distill_config(teacher_config, num_updates=15)
    algorithm = dagger.make_dagger(config, env, teacher)
    assert not any(leaf.weak_type for leaf in jax.tree.leaves(jax.eval_shape(algorithm.init, jax.random.PRNGKey(0))))
    state, metrics = jax.jit(dagger.make_distill(config, env, teacher))(jax.random.PRNGKey(1))
    error = np.asarray(metrics["distill/action_error"])
    assert np.all(np.isfinite(error))
    assert error[-5:].mean() < 0.25 * error[0]
    np.testing.assert_allclose(metrics["distill/beta"][:3], [1.0, 0.95, 0.95**2], rtol=1e-6)
    # The student obeys its own observation only: it has no critic and no log-std.
    assert set(state.params) == {"actor"}
    assert state.params["actor"]["Dense_0"]["kernel"].shape[0] == env.observation_size["actor"]


def test_indivisible_minibatches_are_rejected():
    teacher_config, env, teacher_state, _ = train_toy(actor_coef=1.0)
    teacher = dagger.teacher_from_ppo(teacher_state.params, teacher_state.normalizer, teacher_config.ppo.actor_obs)
    config = _distill_config(teacher_config, num_updates=1)
    config.dagger.num_minibatches = 5
    with pytest.raises(ValueError, match="num_minibatches"):
        dagger.make_dagger(config, env, teacher)

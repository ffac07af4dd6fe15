"""Ablation: one training config run once per variant, each variant a few config overrides.

    python -m experiments.ablate --config=configs/ablate.py:g1_tracking --variants=baseline,no_ee_weight,no_symmetry

Each variant trains in runs/<name>/<variant>/; a summary table (and summary.json) compares them.
A variant is 'key=value;key=value' over the training config (values are Python literals).
"""

import ml_collections

from configs import train

VARIANTS = {
    "toy": {
        "baseline": "",
        "no_symmetry": "symmetry.actor_coef=0.0",
        "no_arm_reward": "env.reward.weights.arms=0.0",
        "no_action_rate": "env.reward.weights.action_rate=0.0",
    },
    "g1_tracking": {
        "baseline": "",
        # GenMimic's keypoint weighting (end effectors > upper > lower) replaced by uniform weights.
        "no_ee_weight": "env.reward.keypoint_group_weights.end_effector=1.0;"
                        "env.reward.keypoint_group_weights.upper=1.0;env.reward.keypoint_group_weights.lower=1.0",
        "no_symmetry": "symmetry.actor_coef=0.0",
        "no_keypoint_velocity": "env.reward.weights.keypoint_velocity=0.0",
        "no_regularisers": "env.reward.weights.action_rate=0.0;env.reward.weights.torque=0.0;"
                           "env.reward.weights.feet_slip=0.0",
    },
}


def get_config(env_name: str = "g1_tracking") -> ml_collections.ConfigDict:
    config = train.get_config(env_name)
    config.name = "ablate"
    config.ablation = ml_collections.ConfigDict()
    config.ablation.variants = ml_collections.ConfigDict(VARIANTS[env_name])
    config.ablation.summary_fraction = 0.1  # the summary averages the last 10% of updates
    return config

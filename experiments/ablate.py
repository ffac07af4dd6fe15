"""Runs a list of config variants (reward weights, symmetry, ...) of one training config and compares them.

    python -m experiments.ablate --config=configs/ablate.py:g1_tracking --variants=baseline,no_ee_weight \\
        [--config.ppo.num_updates=500]

Each variant is its own run directory runs/<name>/<variant>/ (resumable); the table of final episode return,
episode length, tracking error and symmetry error is printed and written to runs/<name>/summary.json.
"""

import ast
import copy
import pathlib

import ml_collections
import numpy as np
from absl import flags

import configs.ablate
from experiments import cli
from genmimic_jax import files
from genmimic_jax.rl.launch import train
from genmimic_jax.rl.metrics_log import read_scalars

_CONFIG = cli.define_config(configs.ablate.__file__, "Ablation config.")
_VARIANTS = flags.DEFINE_list("variants", None, "variants to run, in order (default: all in the config)")

SUMMARY_TAGS = ("episode/return", "episode/length", "env/keypoint_error", "symmetry/actor_error")


def parse_overrides(variant: str, spec: str) -> dict:
    """'a.b=1.0;c=True' -> {'a.b': 1.0, 'c': True}."""
    overrides = {}
    for item in filter(None, (part.strip() for part in spec.split(";"))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"variant {variant!r}: {item!r} is not key=value")
        try:
            overrides[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            overrides[key.strip()] = value.strip()
    return overrides


def variant_config(config: ml_collections.ConfigDict, variant: str) -> ml_collections.ConfigDict:
    """The training config of one variant: the overrides applied, the run named <name>/<variant>."""
    if variant not in config.ablation.variants:
        raise ValueError(f"unknown variant {variant!r}; the config has {', '.join(config.ablation.variants)}")
    result = copy.deepcopy(config)
    for key, value in parse_overrides(variant, config.ablation.variants[variant]).items():
        node, *_, leaf = [result, *key.split(".")]
        for part in key.split(".")[:-1]:
            if part not in node:
                raise ValueError(f"variant {variant!r}: unknown config key {key!r}")
            node = node[part]
        if leaf not in node:
            raise ValueError(f"variant {variant!r}: unknown config key {key!r}")
        node[leaf] = value
    result.name = f"{config.name}/{variant}"
    return result


def summarize(run_dir: pathlib.Path, fraction: float) -> dict[str, float]:
    """Means of the summary tags over the last `fraction` of the logged updates."""
    scalars = read_scalars(run_dir / "logs")
    summary = {}
    for tag in SUMMARY_TAGS:
        if tag in scalars:
            values = scalars[tag][1]
            tail = values[-max(1, int(round(fraction * len(values)))):]
            summary[tag] = float(np.nanmean(tail)) if np.isfinite(tail).any() else float("nan")
    return summary


def format_table(rows: dict[str, dict[str, float]]) -> str:
    tags = [tag for tag in SUMMARY_TAGS if any(tag in row for row in rows.values())]
    width = max(len("variant"), *(len(name) for name in rows))
    lines = ["variant".ljust(width) + "".join(f"{tag:>22}" for tag in tags)]
    for name, row in rows.items():
        lines.append(name.ljust(width) + "".join(f"{row.get(tag, float('nan')):>22.4g}" for tag in tags))
    return "\n".join(lines)


def ablate(config: ml_collections.ConfigDict, variants: list[str]) -> dict[str, dict[str, float]]:
    """Trains every variant (in order) and returns its summary."""
    configs_by_variant = {variant: variant_config(config, variant) for variant in variants}  # validate all first
    rows = {}
    for variant, run_config in configs_by_variant.items():
        print(f"=== variant {variant}: {config.ablation.variants[variant] or '(the config as is)'}")
        rows[variant] = summarize(train(run_config), config.ablation.summary_fraction)
    return rows


def main(argv: list[str]) -> int:
    cli.no_arguments(argv)
    config = _CONFIG.value
    variants = _VARIANTS.value or list(config.ablation.variants)
    summary = pathlib.Path(config.runs_dir) / config.name / "summary.json"
    files.check_output(summary, "json")  # before hours of training
    rows = ablate(config, variants)
    print(format_table(rows))
    files.write_json(summary, rows)
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)

"""Plots training curves from the TensorBoard event files of one or more runs into one PNG.

    python -m experiments.plot_logs --logdir=runs/teacher/logs --out=runs/teacher/curves.png
    python -m experiments.plot_logs --logdir=runs --tags=episode/return,episode/length
"""

import math
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from absl import flags  # noqa: E402

from experiments import cli  # noqa: E402
from genmimic_jax import files  # noqa: E402
from genmimic_jax.rl.metrics_log import LogReadError, read_scalars  # noqa: E402

DEFAULT_TAGS = ("episode/return", "episode/length", "env/keypoint_error", "loss/policy", "loss/value",
                "policy/kl", "symmetry/actor_error", "distill/action_error", "time/env_steps_per_s",
                "eval/success_rate", "eval/mpjpe_mm")  # eval/: experiments.evaluate --config.log_to_run

_LOGDIR = flags.DEFINE_string("logdir", None, "a run's logs/ folder, or a folder of runs (each curve per run)",
                              required=True)
_OUT = flags.DEFINE_string("out", None, "PNG path (default: <logdir>/curves.png)")
_TAGS = flags.DEFINE_list("tags", None, "scalar tags to plot (default: the main training curves present)")


def read_runs(logdir: pathlib.Path) -> dict[str, dict]:
    """{run name: {tag: (steps, values)}} for each outermost folder of event files under `logdir`, with the event
    files below it (a run's evaluations, `experiments.evaluate --config.log_to_run`, are in <run>/logs/evaluation)."""
    event_dirs = sorted({path.parent for path in logdir.rglob("events.out.tfevents.*")})
    if not event_dirs:
        raise LogReadError(f"{logdir}: no TensorBoard event files")
    runs = [d for d in event_dirs if not any(other in d.parents for other in event_dirs)]
    return {str(d.relative_to(logdir)) if d != logdir else logdir.name: read_scalars(d) for d in runs}


def plot(logdir: pathlib.Path, out: pathlib.Path, tags: list[str] | None = None) -> list[str]:
    """Writes a grid of curves (one panel per tag, one line per run) to `out`; returns the tags plotted."""
    runs = read_runs(logdir)
    available = sorted(set().union(*runs.values()))
    wanted = tags or [tag for tag in DEFAULT_TAGS if tag in available]
    missing = [tag for tag in wanted if tag not in available]
    if missing or not wanted:
        raise LogReadError(f"{logdir}: no scalars {missing or list(DEFAULT_TAGS)} (have {available})")
    columns = min(3, len(wanted))
    rows = math.ceil(len(wanted) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.5 * rows), squeeze=False)
    for ax, tag in zip(axes.flat, wanted):
        for index, (run, scalars) in enumerate(runs.items()):
            if tag in scalars:
                steps, values = scalars[tag]
                # Markers where a run has few points (a run's evaluations), so that a single one shows.
                ax.plot(steps, values, color=f"C{index}", label=run, marker="o" if len(steps) < 20 else None)
        ax.set_title(tag)
        ax.set_xlabel("update")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(wanted):]:
        ax.axis("off")
    if len(runs) > 1:
        axes.flat[0].legend(fontsize="small")
    figure.tight_layout()
    try:
        files.write_atomic(out, lambda file: figure.savefig(file, format="png", dpi=100), "png")
    finally:
        plt.close(figure)
    return wanted


def main(argv: list[str]) -> int:
    cli.no_arguments(argv)
    logdir = pathlib.Path(_LOGDIR.value)
    out = pathlib.Path(_OUT.value) if _OUT.value else logdir / "curves.png"
    files.check_output(out, "png")
    tags = plot(logdir, out, _TAGS.value)
    print(f"wrote {out} ({', '.join(tags)})")
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)

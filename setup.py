"""Install genmimic_jax."""

import setuptools

setuptools.setup(
    name="genmimic_jax",
    version="0.1.0",
    description="GenMimic in JAX: human motion from generated video to Unitree G1 tracking policies.",
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=["genmimic_jax*", "experiments*", "configs*"]),
    package_data={"genmimic_jax.robot.g1": ["*.xml", "meshes/*.stl", "meshes/LICENSE", "meshes/README.md"]},
    install_requires=[
        "jax>=0.9.2,<0.10",
        "jaxlib>=0.9.2,<0.10",
        "flax>=0.12.6,<0.13",
        "optax>=0.2.8,<0.3",
        "mujoco>=4.0.0,<4.1",
        "mujoco-mjx>=3.17.0,<3.18",
        "brax>=0.14.2,<0.15",
        "orbax-checkpoint>=0.11.36,<0.12",
        "onnx>=1.23.2,<1.24",
        "onnxruntime>=1.32.0,<1.33",
        "absl-py>=2.1",
        "ml_collections>=1.1,<2",
        "numpy>=2.0,<3",
        "scipy>=1.14,<2",
        "tensorboardX>=2.6,<3",
        "tqdm>=4.66,<5",
        "matplotlib>=3.9,<4",
        "imageio>=2.34,<3",
        "imageio-ffmpeg>=0.5.1,<0.7",  # MP4 videos: 0.6.0 installs 77 MB; 0.8.1 bundles a 165 MB ffmpeg
    ],
    extras_require={
        "smplx": ["torch==2.13.0", "smplx==0.1.28"],
        "dev": ["pytest>=8,<10", "joblib>=1.3"],
        "tensorboard": ["tensorboard>=2.18,<3"],  # `tensorboard --logdir runs/` (the logs are written without it)
    },
)

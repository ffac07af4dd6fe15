"""Shared test fixtures."""

import pathlib

import pytest

SHARED_DIR = pathlib.Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> pathlib.Path:
    """The `../shared` folder beside the checkout; tests that need it skip without it."""
    if not SHARED_DIR.is_dir():
        pytest.skip("../shared is absent")
    return SHARED_DIR

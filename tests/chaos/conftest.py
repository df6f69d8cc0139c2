"""Chaos tests reuse the integration fixtures: one real local cluster per module."""

from tests.integration.conftest import *  # noqa: F401,F403

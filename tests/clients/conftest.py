"""The real-cluster fixtures of tests/integration (cluster, s3, s3_clients, bucket),
shared with the client-tool tests."""

from tests.integration.conftest import *  # noqa: F401,F403

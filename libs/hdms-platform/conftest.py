# The shared fixtures: real stack, no test databases created, per-test cache prefix.
from hdms_platform.testing.pytest_plugin import *  # noqa: F403

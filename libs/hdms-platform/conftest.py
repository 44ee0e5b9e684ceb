# The shared fixtures: real stack, no test databases created, a per-test cache key prefix.
# (A plugin, not `import *`: star-imports skip the underscore-named autouse fixture.)
pytest_plugins = ["hdms_platform.testing.pytest_plugin"]

"""Development and operations tooling for HDMS: the stack launcher, the process supervisor glue,
the test runner, the connection verifier, the env-file writer, backups, the private stack.

No service imports this package (libs/hdms-platform/tests/test_layers.py enforces it): it starts,
checks and tears down what the services run on; hdms_platform is what they run with.
"""

"""Configuration: the environment, the settings builders and defaults, production's changes, system checks."""

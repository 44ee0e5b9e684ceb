"""Test and development support: the pytest plugin, test tokens, the development seed data."""

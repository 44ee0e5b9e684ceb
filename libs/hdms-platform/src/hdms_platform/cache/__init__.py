"""Caching: policies and cache-aside, the codec, per-process copies dropped on invalidation."""

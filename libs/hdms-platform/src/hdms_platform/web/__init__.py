"""The HTTP surface every service shares: error mapping, parsers, schema, the fast path, client address, idempotency, entry points, URLs."""

"""The database: the PostgreSQL backend, the migrations router, the per-request time budget, retention purges."""

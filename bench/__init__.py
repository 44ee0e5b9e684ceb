"""`make bench` (`python -m bench.run`): the stack's speed, side by side in one run, in docs/performance.md."""

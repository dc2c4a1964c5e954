"""Benchmarks behind `labeler bench`: each returns plain dicts; the CLI renders them."""

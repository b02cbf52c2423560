"""Real servers that the tests and the benchmarks start for themselves (and stop by their own pid).

Neither tests/ nor bench/ imports the other; both import these.
"""

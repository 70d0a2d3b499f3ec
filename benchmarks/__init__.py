"""`python -m benchmarks`: how close the cluster gets to the ideal, and what it costs.

Speed goals live here, never in a timed test: the figures are printed and written as
JSON, and compared with the goals of issue 6 in docs/performance.md.
"""

"""What any client knows of a running cluster: its errors, its events, its workers and its queues.

Imports `worker` (the app's settings and records) and nothing above it; `recovery`, `devcluster`,
`producer` and `benchmarks` build on it.
"""

"""Processes we start for users, tests and benchmarks, and always stop.

`redis_server`: a redis-server of our own on a free loopback port; `local_cluster`: it plus real
`celery worker` processes (`python -m producer local up`); `compose`: one compose project under a
name of its own, on free ports, always taken down with `down -v`.
"""

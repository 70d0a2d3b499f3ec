"""The recovery service: a dead worker's jobs back in the queue within seconds (recovery.service).

`python -m recovery` runs it; compose, the stack and Kubernetes run it as its own container.
"""

"""Errors a job raises when asked to fail, so the demo can show failures and retries."""


class JobFailed(Exception):
    """Raised by a job asked to fail for good (`fail="always"`): reported, never retried."""


class TransientJobError(Exception):
    """Raised by a job asked to fail on its first attempt (`fail="once"`): retried with backoff."""

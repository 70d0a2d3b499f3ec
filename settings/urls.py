"""Redis URLs, built in one place: the settings, the local cluster, compose and the benchmarks all call `redis_url`.

Standard library only, and pure: a launcher builds a URL without loading any setting.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit, urlunsplit


def redis_url(host: str, port: int, db: int = 0, user: str | None = None, password: str | None = None, *,
              tls_ca_file: str | None = None) -> str:
    """The URL of Redis database `db` at host:port, logged in as `user` with `password` (quoted).

    With a CA certificate (`tls_ca_file`) it is a rediss:// URL whose query tells redis-py
    and kombu to check the server's certificate against it.
    """
    login = ""
    if user is not None or password is not None:
        login = f"{quote(user or '', safe='')}:{quote(password or '', safe='')}@"
    scheme, query = "redis", ""
    if tls_ca_file:
        scheme, query = "rediss", "?" + urlencode({"ssl_cert_reqs": "required", "ssl_ca_certs": tls_ca_file})
    return f"{scheme}://{login}{host}:{port}/{db}{query}"


def with_db(url: str, db: int) -> str:
    """The same Redis URL with another database number."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


def db_beside(broker_url: str, backend_url: str) -> int | None:
    """The results' database number when they live on the broker's Redis server (same scheme, host and
    port): a Lua script on the jobs' side can then SELECT it. None when they live elsewhere."""
    broker, backend = urlsplit(broker_url), urlsplit(backend_url)
    if (broker.scheme, broker.hostname, broker.port or 6379) != (backend.scheme, backend.hostname,
                                                                  backend.port or 6379):
        return None
    path = backend.path.strip("/")
    return int(path) if path.isdigit() else 0

"""The one Redis URL builder (settings.urls): what the settings, the local cluster and compose hand to Celery."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import redis

from settings.urls import redis_url, with_db


def test_a_role_and_its_password_log_in_to_one_database():
    assert redis_url("127.0.0.1", 6390, 1, "producer", "pw") == "redis://producer:pw@127.0.0.1:6390/1"


def test_no_login_at_all_and_an_empty_password():
    assert redis_url("localhost", 6379) == "redis://localhost:6379/0"
    assert redis_url("localhost", 6379, 0, "producer", "") == "redis://producer:@localhost:6379/0"


def test_a_password_with_url_characters_is_quoted_and_survives_redis_py():
    url = redis_url("h", 1, 0, "producer", "p@ss:w/rd")
    assert redis.connection.parse_url(url)["password"] == "p@ss:w/rd"


def test_a_ca_makes_it_tls_with_the_certificate_checked():
    url = redis_url("redis", 6380, 0, "worker", "pw", tls_ca_file="/run/ca.crt")
    parts = urlsplit(url)
    assert parts.scheme == "rediss" and parts.path == "/0"
    assert parse_qs(parts.query) == {"ssl_cert_reqs": ["required"], "ssl_ca_certs": ["/run/ca.crt"]}


def test_with_db_keeps_everything_but_the_database():
    url = redis_url("redis", 6380, 0, "worker", "pw", tls_ca_file="/ca")
    assert with_db(url, 1) == url.replace("/0?", "/1?")

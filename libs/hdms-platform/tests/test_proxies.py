"""Whose X-Forwarded-For counts (hdms_platform.web.proxies): by the peer's address, network or name."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from hdms_platform.conf import builders as platform
from hdms_platform.web import proxies


def test_a_peer_outside_the_list_is_its_own_client_whatever_it_forwards(make_env):
    trusted = platform.trusted_proxies(make_env(TRUSTED_PROXIES="127.0.0.2, 10.8.0.0/16"))
    assert proxies.address_of("127.0.0.1", "198.51.100.7", proxies=trusted, count=1) == "127.0.0.1"
    assert proxies.address_of("127.0.0.2", "198.51.100.7, 203.0.113.5", proxies=trusted, count=1) == "203.0.113.5"
    assert proxies.address_of("10.8.3.4", "203.0.113.5", proxies=trusted, count=1) == "203.0.113.5"
    assert proxies.address_of("127.0.0.2", "1.1.1.1, 203.0.113.5", proxies=trusted, count=2) == "1.1.1.1"
    assert proxies.address_of("127.0.0.2", "203.0.113.5", proxies=trusted, count=0) == "127.0.0.2"
    nobody = platform.trusted_proxies(make_env())
    assert not nobody and proxies.address_of("127.0.0.2", "203.0.113.5", proxies=nobody, count=1) == "127.0.0.2"


def test_a_proxy_named_by_host_name_is_trusted_at_the_address_it_resolves_to(make_env):
    trusted = platform.trusted_proxies(make_env(TRUSTED_PROXIES="localhost"))
    assert trusted.trusts("127.0.0.1") and not trusted.trusts("127.0.0.3") and not trusted.trusts("")


def test_a_malformed_entry_stops_start_up_naming_the_variable(make_env):
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES"):
        platform.trusted_proxies(make_env(TRUSTED_PROXIES="10.0.0.0/33"))

"""TRUSTED_PROXIES parsed: addresses, networks and host names (re-resolved at most every
RESOLVE_SECONDS), and whether a peer is one of them. Standard library only: the native launcher
reads it too (gunicorn's forwarded-allow addresses). The rule built on it is web/proxies.py."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterable

RESOLVE_SECONDS = 5.0
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    def __init__(self, entries: Iterable[str]):
        self.networks: list[Network] = []
        self.names: list[str] = []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.names.append(entry)
        self._resolved: set[str] = set()
        self._resolved_at = float("-inf")
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.networks or self.names)

    def trusts(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False  # a Unix socket or no peer at all: nobody vouched for it
        if any(address in network for network in self.networks):
            return True
        if not self.names:
            return False
        return peer in self._names_resolved(refresh=peer not in self._resolved)

    def _names_resolved(self, *, refresh: bool) -> set[str]:
        with self._lock:
            if refresh and time.monotonic() - self._resolved_at >= RESOLVE_SECONDS:
                self._resolved_at = time.monotonic()  # at most one lookup per interval, whoever asks
                found: set[str] = set()
                for name in self.names:
                    try:
                        found |= {str(info[4][0]) for info in socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)}
                    except OSError:
                        continue  # not resolvable now (the gateway is not up yet): trusted once it is
                self._resolved = found
            return self._resolved

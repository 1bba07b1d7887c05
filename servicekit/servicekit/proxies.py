"""The client's address behind the gateway (or any reverse proxy the deployment trusts)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(values: list[str]) -> tuple[Network, ...]:
    """``TRUSTED_PROXIES`` (addresses or CIDRs) as networks; raises ImproperlyConfigured on a typo."""
    try:
        return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values if value.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from exc


class ClientAddressMiddleware:
    """Sets ``REMOTE_ADDR`` to the client's address when a trusted proxy forwarded the request.

    ``X-Forwarded-For`` is believed only when the direct peer (``REMOTE_ADDR``) is in
    ``TRUSTED_PROXIES``; the client is then the right-most address of the header that is not
    a trusted proxy itself. What lies to the left of it was written by the client and is
    ignored, as is the whole header when the peer is not trusted. Whatever needs the client's
    address (the login throttle, DRF throttles' ``get_ident``) reads ``REMOTE_ADDR`` after this.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.trusted = trusted_networks(settings.TRUSTED_PROXIES)

    def is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    def client_address(self, forwarded: str) -> str | None:
        """The right-most address of ``X-Forwarded-For`` that is not a trusted proxy, or None
        when the header holds no valid address there."""
        for part in reversed(forwarded.split(",")):
            try:
                ip = ipaddress.ip_address(part.strip())
            except ValueError:
                return None
            if not any(ip in network for network in self.trusted):
                return str(ip)
        return None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
        if forwarded and self.is_trusted(request.META.get("REMOTE_ADDR", "")):
            request.META["REMOTE_ADDR"] = self.client_address(forwarded) or request.META["REMOTE_ADDR"]
        return self.get_response(request)

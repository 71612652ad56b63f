"""Security middleware of the site: what a reverse proxy may tell the application, and from
which address it may tell it."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class TrustedProxyMiddleware:
    """Keep ``X-Forwarded-Proto`` only when the connection comes from a trusted reverse proxy
    (``OBSERVATOIRE_TRUSTED_PROXIES``). Django reads the scheme from it
    (``SECURE_PROXY_SSL_HEADER``) to know the request came over HTTPS — for the CSRF origin
    check, HSTS and secure redirects — but would believe anyone who sends it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.META.get("REMOTE_ADDR") not in settings.OBSERVATOIRE_TRUSTED_PROXIES:
            request.META.pop("HTTP_X_FORWARDED_PROTO", None)
        return self.get_response(request)

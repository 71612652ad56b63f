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


#: Everything the pages load comes from the site itself: scripts and styles are files under
#: /static/ (no inline script, style element or style attribute), nothing from elsewhere; no
#: plug-in, no framing by another site, no <base> to redirect relative links.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
])
#: Browser features no page of the site uses, refused to anything running in it.
PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in (
    "accelerometer", "camera", "geolocation", "gyroscope", "magnetometer", "microphone",
    "payment", "usb"))


class SecurityHeadersMiddleware:
    """The Content Security Policy and the Permissions Policy on every response (a view may
    set its own)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response

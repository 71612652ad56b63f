"""The site's middleware: what a reverse proxy may tell the application and from which address,
the security headers of every response, and a full or read-only disk said as such."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from observatoire.config import Settings
from observatoire.errors import storage_error

LOG = logging.getLogger(__name__)


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
    "img-src 'self'",
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


class StorageErrorMiddleware:
    """A full disk or a data home that cannot be written, met while preparing a page or a
    download (datasets are written to the data home at their first request after a build):
    the site's « unavailable » page with a 503, not an internal error. The public is not told
    the server's paths; the log is."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception
                          ) -> HttpResponse | None:
        found = storage_error(exception, Settings.from_env().home)
        if found is None:
            return None
        LOG.error("%s (%s) — %s", found.message, found.where, request.path)
        full = found.message.startswith("Espace disque insuffisant")
        return render(request, "observatoire/indisponible.html", {
            "message": ("Espace disque insuffisant sur le serveur : votre demande ne peut pas "
                        "aboutir pour l'instant." if full else
                        "Le serveur ne peut pas écrire dans son dossier de données : votre "
                        "demande ne peut pas aboutir pour l'instant."),
            "hint": "Réessayez plus tard ; si cela dure, prévenez l'équipe de l'observatoire.",
        }, status=503)

"""Support for the admin UI's controllers: sessions, CSRF, security headers, templates, charts."""

__all__: list[str] = []

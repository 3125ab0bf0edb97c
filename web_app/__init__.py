"""The web tier: upload page, gallery, JSON API, media and health, built by `create_app()`."""

"""The web shell: FastAPI app, auth, HTMX helpers, pages and the JSON API."""

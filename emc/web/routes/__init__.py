"""The HTTP routes, one module per area: thin handlers that read a form or query, call the domain, answer."""

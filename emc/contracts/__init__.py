"""Contracts: terms as settlement components, kept as files and versioned in the database."""

"""Tariffs: effective-dated prices (flat, water supply + sewage + resource fee, tiered, time of use) kept as
files and versions in the database; the pure book in :mod:`emc.tariffs.book` prices quantities with them."""

"""emc: settle energy-performance and water-saving contracts for public institutions."""

__version__ = "0.1.0"

"""Metering: meters and the readings ESCOs upload."""

"""Scheduled jobs: one APScheduler per installation."""

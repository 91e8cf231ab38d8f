"""Sensors: Slack alerting."""

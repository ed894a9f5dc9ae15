"""Alerting: who hears about an incident, through which channel, and proof that they did."""

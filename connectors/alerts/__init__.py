"""Alerts of the crossings job to the duty officers' webhooks (`crossings alerts dispatch`)."""

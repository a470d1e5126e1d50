"""Wiring per mode, configuration loading and the command line."""

"""Utilities shared across the plugin."""

"""Citebot configuration: one settings model, defaults in ``defaults.toml``."""

from config.settings import Settings, SettingsError, describe_error, load_settings, shipped_defaults

__all__ = ["Settings", "SettingsError", "describe_error", "load_settings", "shipped_defaults"]

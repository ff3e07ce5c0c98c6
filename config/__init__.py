"""Citebot configuration: one settings model, defaults in ``defaults.toml``."""

from config.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]

"""Typed configuration: YAML in, validated `Config` out, every mistake located."""

from paramedic.config.durations import parse_duration
from paramedic.config.load import (
    ConfigIssue,
    InvalidConfig,
    load_config,
    parse_config,
    parse_config_bytes,
)
from paramedic.config.model import Config, ServiceConfig

__all__ = [
    "Config",
    "ConfigIssue",
    "InvalidConfig",
    "ServiceConfig",
    "load_config",
    "parse_config",
    "parse_config_bytes",
    "parse_duration",
]

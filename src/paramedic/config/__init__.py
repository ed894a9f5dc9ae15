"""Typed configuration: YAML in, validated `Config` out, every mistake located."""

from paramedic.config.durations import parse_duration
from paramedic.config.load import (
    ConfigIssue,
    ConfigReview,
    InvalidConfig,
    Reviewer,
    load_config,
    parse_config,
    parse_config_bytes,
)
from paramedic.config.model import Config, ServiceConfig

__all__ = [
    "Config",
    "ConfigIssue",
    "ConfigReview",
    "InvalidConfig",
    "Reviewer",
    "ServiceConfig",
    "load_config",
    "parse_config",
    "parse_config_bytes",
    "parse_duration",
]

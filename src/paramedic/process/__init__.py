"""Processes paramedic owns: spawn, instant exit notice through a pidfd, graceful stop."""

from paramedic.process.managed import ExitStatus, ManagedProcess

__all__ = ["ExitStatus", "ManagedProcess"]

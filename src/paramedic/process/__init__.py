"""Processes paramedic owns: spawn, instant exit notice through a pidfd, graceful stop."""

from paramedic.process.managed import ExitStatus, ManagedProcess
from paramedic.process.watched import WatchedProcess

__all__ = ["ExitStatus", "ManagedProcess", "WatchedProcess"]

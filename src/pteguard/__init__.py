"""pteguard: kernel I/O error triage and remediation for Linux fleets."""

__version__ = "0.1.0"

"""The pteguard lab: a cached Debian 12 image, QEMU guests and nspawn containers on
one machine, and real fault injectors that make a real guest kernel print real
records. See ``pteguard.lab.cli.main`` for the ``pteguard lab`` subcommand."""

from .image import Image, get_image
from .util import LabError
from .vm import VM, boot_vms, stop_all

__all__ = ["Image", "LabError", "VM", "boot_vms", "get_image", "stop_all"]

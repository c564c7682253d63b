"""The pteguard lab: a cached Debian 12 image, QEMU guests and nspawn containers on
one machine, and real fault injectors that make a real guest kernel print real
records. See ``pteguard_lab.cli.main`` for the ``pteguard-lab`` command.

Test tooling, not product code: the pteguard CLI never imports it. Installed (editable) by
``scripts/setup --test`` from this folder's pyproject.toml; its assets sit beside it in ``lab/``."""

from .image import Image, get_image
from .util import LabError
from .vm import VM, boot_vms, stop_all

__all__ = ["Image", "LabError", "VM", "boot_vms", "get_image", "stop_all"]

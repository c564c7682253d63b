# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse ``lsblk --json --nodeps -o NAME,TYPE,...`` (util-linux) into the names of whole disks."""

from __future__ import annotations

import json
import re

# Block devices that are never a physical disk worth a SMART query.
SKIP_PREFIXES = ("loop", "ram", "zram", "dm-", "md", "sr", "nbd", "fd", "zd", "drbd", "rbd")


class LsblkParseError(ValueError):
    pass


def skip_device(name):
    """True for virtual/stacked devices and NVMe partitions."""
    return name.startswith(SKIP_PREFIXES) or re.match(r"^nvme\d+n\d+p\d+$", name) is not None


def parse_lsblk_disks(text):
    """Names (``sda``, ``nvme0n1``) of the devices of TYPE disk that are not skipped, in lsblk's order."""
    try:
        doc = json.loads(text)
        devices = doc.get("blockdevices") or []
        names = [d.get("name") for d in devices if d.get("type") == "disk" and d.get("name")]
    except (ValueError, AttributeError) as exc:
        raise LsblkParseError(str(exc))
    return [n for n in names if not skip_device(n)]

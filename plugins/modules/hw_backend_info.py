#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: hw_backend_info
short_description: Choose the hardware-error monitoring backend (rasdaemon or mcelog) a host can really run
version_added: "0.1.0"
description:
  - Probes the host read-only (CPU vendor and family, C(/dev/mcelog), kernel config, tracefs, kernel lockdown,
    container, installed and installable packages) and decides which backend works there, saying why.
  - rasdaemon where the kernel has the RAS tracepoints; mcelog only where C(/dev/mcelog) exists and the CPU is not
    AMD family 0x17 or later (which mcelog refuses); otherwise none.
  - Used by the P(pteguard.remediation.hw_monitor#role) role; the decision rules are in module_utils/hw_backend.py.
author:
  - pteguard maintainers (@pteguard)
attributes:
  check_mode:
    description: Read-only; it runs the same in check mode and never changes the host.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
options:
  pkg_family:
    description: Package family of the host, which decides how packages are looked up.
    type: str
    required: true
    choices: [debian, redhat]
  preference:
    description: V(auto) decides; V(rasdaemon), V(mcelog) or V(none) force a choice (refused with a reason when it cannot work).
    type: str
    default: auto
    choices: [auto, rasdaemon, mcelog, none]
  rasdaemon_package:
    description: Name of the rasdaemon package.
    type: str
    default: rasdaemon
  mcelog_package:
    description: Name of the mcelog package.
    type: str
    default: mcelog
"""

EXAMPLES = r"""
- name: Which hardware-error backend works here?
  pteguard.remediation.hw_backend_info:
    pkg_family: debian
  register: pteguard_backend
"""

RETURN = r"""
backend:
  description: The backend chosen.
  returned: always
  type: str
  sample: rasdaemon
reason:
  description: Why, in one sentence.
  returned: always
  type: str
  sample: "rasdaemon: kernel has CONFIG_RAS and tracefs; package rasdaemon installable"
notes:
  description: Caveats about the choice.
  returned: always
  type: list
  elements: str
rejected:
  description: The backends not chosen, each with the reason.
  returned: always
  type: dict
start_blocker:
  description: Why the chosen backend could not start here (for example tracefs absent in a container), or null.
  returned: always
  type: str
probe:
  description: The facts the decision was made from.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pteguard.remediation.plugins.module_utils.hw_backend import (
    PREFERENCES,
    ProbeError,
    probe_and_decide,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pkg_family=dict(type="str", required=True, choices=["debian", "redhat"]),
            preference=dict(type="str", default="auto", choices=list(PREFERENCES)),
            rasdaemon_package=dict(type="str", default="rasdaemon"),
            mcelog_package=dict(type="str", default="mcelog"),
        ),
        supports_check_mode=True,
    )

    def run(argv):
        rc, out, _err = module.run_command(argv, environ_update={"LC_ALL": "C"})
        return rc, out

    try:
        decision = probe_and_decide(module.params["pkg_family"], run, module.params["preference"],
                                    module.params["rasdaemon_package"], module.params["mcelog_package"])
    except ProbeError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **decision)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: bmc_power
short_description: Read or change a host's power through its management controller over IPMI (ipmitool)
version_added: "0.1.0"
description:
  - Runs C(ipmitool -I lanplus) against the controller, the password passed in the environment (C(-E)), never on the
    command line or in the log.
  - O(state=status) only reads. O(state=reset), V(cycle), V(on) and V(off) change the host's power; they are what
    brings a host back from memtest86+, which never ends by itself.
  - Run it where the controller is reachable (usually with C(delegate_to) set to V(localhost)).
requirements:
  - ipmitool on the machine that runs the module
author:
  - pteguard maintainers (@pteguard)
attributes:
  check_mode:
    description: Reads the power state and reports the change it would make.
    support: full
  diff_mode:
    description: No diff.
    support: none
options:
  host:
    description: The controller's address.
    type: str
    required: true
  port:
    description: The controller's RMCP+ UDP port.
    type: int
    default: 623
  username:
    description: IPMI user.
    type: str
    required: true
  password:
    description: IPMI password (from a vault); never logged.
    type: str
    required: true
  cipher_suite:
    description: RMCP+ cipher suite (C(-C)); 3 is what most controllers accept.
    type: int
    default: 3
  state:
    description: What to do.
    type: str
    default: status
    choices: [status, reset, cycle, "on", "off"]
  timeout:
    description: Seconds ipmitool may take.
    type: int
    default: 30
"""

EXAMPLES = r"""
- name: Bring the host back from memtest86+
  pteguard.remediation.bmc_power:
    host: bmc-web01.example
    username: admin
    password: "{{ vault_ipmi_password }}"
    state: reset
  delegate_to: localhost
"""

RETURN = r"""
power_before:
  description: The power state the controller reported first (on, off, unknown).
  returned: always
  type: str
  sample: "on"
action:
  description: The ipmitool chassis power action sent, or null.
  returned: always
  type: str
  sample: reset
message:
  description: What ipmitool printed for the action.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule


def last_line(text):
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def session_error(where, username, err):
    """The one-line reason an RMCP+ session failed, from ipmitool -v's stderr (None when it is something else)."""
    if "RAKP" in err or "unauthorized name" in err or "password" in err.lower():
        return "%s refused the IPMI session for %s (wrong credentials or cipher suite)" % (where, username)
    if "Get Auth Capabilities error" in err or "Get Channel Authentication Capabilities" in err:
        return "%s unreachable: no IPMI (RMCP+) reply on that UDP port" % where
    if "Unable to establish" in err:
        return "%s: no IPMI session could be established (%s)" % (where, last_line(err))
    return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", required=True),
            port=dict(type="int", default=623),
            username=dict(type="str", required=True),
            password=dict(type="str", required=True, no_log=True),
            cipher_suite=dict(type="int", default=3),
            state=dict(type="str", default="status", choices=["status", "reset", "cycle", "on", "off"]),
            timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    p = module.params
    ipmitool = module.get_bin_path("ipmitool")
    if not ipmitool:
        module.fail_json(msg="ipmitool is not installed where this module runs (package ipmitool)")
    timeout_bin = module.get_bin_path("timeout", required=True)
    # -v makes ipmitool say why a session failed: RAKP errors (credentials) vs no reply at all (unreachable)
    base = [timeout_bin, str(p["timeout"]), ipmitool, "-v", "-I", "lanplus", "-C", str(p["cipher_suite"]),
            "-H", p["host"], "-p", str(p["port"]), "-U", p["username"], "-E", "-N", "2", "-R", "3"]
    env = {"LC_ALL": "C", "IPMI_PASSWORD": p["password"]}
    where = "controller %s:%d" % (p["host"], p["port"])

    def chassis(*args):
        rc, out, err = module.run_command(base + ["chassis", "power"] + list(args), environ_update=env)
        if rc == 124:
            module.fail_json(msg="%s did not answer IPMI within %ds" % (where, p["timeout"]))
        if rc != 0:
            module.fail_json(msg=session_error(where, p["username"], err) or "ipmitool chassis power %s failed (rc=%d): %s"
                             % (" ".join(args), rc, last_line(err or out)))
        return last_line(out)

    status = chassis("status")
    before = "on" if status.endswith(" on") else ("off" if status.endswith(" off") else "unknown")
    if p["state"] == "status":
        module.exit_json(changed=False, power_before=before, action=None, message=status)
    if p["state"] in ("on", "off") and before == p["state"]:
        module.exit_json(changed=False, power_before=before, action=None, message=status)
    if module.check_mode:
        module.exit_json(changed=True, power_before=before, action=p["state"], message="check mode: not sent")
    message = chassis(p["state"])
    module.exit_json(changed=True, power_before=before, action=p["state"], message=message)


if __name__ == "__main__":
    main()

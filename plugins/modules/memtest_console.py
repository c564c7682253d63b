#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: memtest_console
short_description: Read memtest86+'s screen from a management controller's SSH console with paramiko
version_added: "0.1.0"
description:
  - Connects to the host console a management controller serves over SSH (OpenBMC's host console on port 2200, a
    serial-over-LAN CLI, or any SSH service whose forced command attaches to the serial port), checks the
    controller's host key against O(known_hosts), and reads the serial stream.
  - Replays the stream as a terminal would (memtest86+ draws with cursor moves) and reads pass count, error count,
    test and progress from the screen (module_utils/memtest86_console.py). Stops after O(passes) completed passes,
    at the first error, or at O(max_seconds), whichever comes first.
  - Run it where the controller is reachable (usually with C(delegate_to) set to V(localhost)). It only reads; in check mode it does
    not connect.
requirements:
  - paramiko
author:
  - pteguard maintainers (@pteguard)
attributes:
  check_mode:
    description: Does not connect in check mode.
    support: full
  diff_mode:
    description: Nothing changes.
    support: none
options:
  host:
    description: The controller's address.
    type: str
    required: true
  port:
    description: The controller's console SSH port.
    type: int
    default: 22
  username:
    description: Console user.
    type: str
    required: true
  password:
    description: Console password (from a vault); never logged.
    type: str
  key_file:
    description: Private key for the console.
    type: path
  key_passphrase:
    description: Passphrase of O(key_file) (from a vault); never logged.
    type: str
  known_hosts:
    description: known_hosts file holding the controller's host key; an unknown or changed key is refused.
    type: path
    required: true
  host_key_alias:
    description: Name the controller's key is filed under in O(known_hosts) (default the [host]:port form).
    type: str
  command:
    description: Command sent on the SSH channel (a forced-command console ignores it; OpenBMC needs none).
    type: str
    default: console
  passes:
    description: Completed memtest86+ passes to wait for.
    type: int
    default: 1
  max_seconds:
    description: Longest time to read the console.
    type: int
    default: 900
  connect_timeout:
    description: Seconds to wait for the SSH connection and authentication.
    type: int
    default: 20
  connect_only:
    description:
      - Only connect and authenticate (host key, credentials), then disconnect without opening the console. This is
        the check made before a host is rebooted into memtest86+, so a wrong password or an unreachable controller
        stops the host before anything changes. RV(result) is then V(connected).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Read memtest86+ on the BMC's console
  pteguard.remediation.memtest_console:
    host: bmc-web01.example
    port: 2200
    username: root
    password: "{{ vault_bmc_password }}"
    known_hosts: /etc/pteguard/bmc_known_hosts
    passes: 1
    max_seconds: 3600
  delegate_to: localhost
  register: memory_test_console_read
"""

RETURN = r"""
screen:
  description: The last screen seen (25 lines of text).
  returned: when the console was read
  type: list
  elements: str
parsed:
  description: What the screen says (version, passes, errors, status, test, percentages, elapsed, error rows), or null.
  returned: always
  type: dict
result:
  description: passed (the passes done, no error), failed (memtest86+ counted errors), incomplete (time limit or no
    screen), or connected (O(connect_only)).
  returned: always
  type: str
reasons:
  description: Why the reading stopped, in words.
  returned: always
  type: list
  elements: str
bytes_read:
  description: Bytes read from the console.
  returned: always
  type: int
seconds:
  description: How long the console was read.
  returned: always
  type: float
"""

import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.pteguard.remediation.plugins.module_utils.memtest86_console import (
    ConsoleParseError,
    parse_screen,
    render_screen,
    should_stop,
)

try:
    import paramiko
except ImportError:
    paramiko = None
    PARAMIKO_IMPORT_ERROR = traceback.format_exc()
else:
    PARAMIKO_IMPORT_ERROR = None


def connect(module):
    p = module.params
    client = paramiko.SSHClient()
    try:
        client.load_host_keys(p["known_hosts"])
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot read known_hosts %s: %s" % (p["known_hosts"], exc))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    if p["host_key_alias"]:
        keys = client.get_host_keys().lookup(p["host_key_alias"])
        if keys:
            name = p["host"] if p["port"] == 22 else "[%s]:%d" % (p["host"], p["port"])
            for ktype, key in keys.items():
                client.get_host_keys().add(name, ktype, key)
    try:
        client.connect(p["host"], port=p["port"], username=p["username"], password=p["password"],
                       key_filename=p["key_file"], passphrase=p["key_passphrase"], timeout=p["connect_timeout"],
                       banner_timeout=p["connect_timeout"], auth_timeout=p["connect_timeout"], allow_agent=False,
                       look_for_keys=False)
    except paramiko.BadHostKeyException:
        module.fail_json(msg="controller %s:%d presented a host key that differs from known_hosts: refused"
                             % (p["host"], p["port"]))
    except paramiko.SSHException as exc:
        if "not found in known_hosts" in str(exc):
            module.fail_json(msg="controller %s:%d is not in %s: refused (add its host key first)"
                                 % (p["host"], p["port"], p["known_hosts"]))
        if p["key_file"] and ("Invalid key" in str(exc) or isinstance(exc, paramiko.PasswordRequiredException)):
            module.fail_json(msg="controller %s:%d: cannot use the console key %s (wrong passphrase, or not a key)"
                                 % (p["host"], p["port"], p["key_file"]))
        if isinstance(exc, paramiko.AuthenticationException):
            module.fail_json(msg="controller %s:%d refused the console credentials for %s"
                                 % (p["host"], p["port"], p["username"]))
        module.fail_json(msg="controller %s:%d: SSH failed: %s" % (p["host"], p["port"], exc))
    except (OSError, EOFError) as exc:
        module.fail_json(msg="controller %s:%d unreachable: %s" % (p["host"], p["port"], exc))
    except ValueError as exc:  # a key file paramiko cannot decrypt (wrong passphrase) or parse
        module.fail_json(msg="controller %s:%d: cannot use the console key %s: %s"
                             % (p["host"], p["port"], p["key_file"], exc))
    return client


def read_until_done(module, channel):
    p = module.params
    started = time.monotonic()
    deadline = started + p["max_seconds"]
    chunks = []
    parsed = None
    stop, why = False, None
    channel.settimeout(1.0)
    while time.monotonic() < deadline:
        try:
            data = channel.recv(65536)
        except OSError:  # socket.timeout is an OSError: nothing new this second
            data = None
        if data == b"":
            why = "the console closed the connection"
            break
        if data:
            chunks.append(data.decode("utf-8", "replace"))
            try:
                parsed = parse_screen(render_screen("".join(chunks)))
            except ConsoleParseError:
                continue
            stop, why = should_stop(parsed, p["passes"])
            if stop:
                break
    else:
        why = "time limit of %ds reached" % p["max_seconds"]
    return "".join(chunks), parsed, stop, why, time.monotonic() - started


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", required=True),
            port=dict(type="int", default=22),
            username=dict(type="str", required=True),
            password=dict(type="str", no_log=True),
            key_file=dict(type="path"),
            key_passphrase=dict(type="str", no_log=True),
            known_hosts=dict(type="path", required=True),
            host_key_alias=dict(type="str", no_log=False),
            command=dict(type="str", default="console"),
            passes=dict(type="int", default=1, no_log=False),
            max_seconds=dict(type="int", default=900),
            connect_timeout=dict(type="int", default=20),
            connect_only=dict(type="bool", default=False),
        ),
        required_one_of=[("password", "key_file")],
        supports_check_mode=True,
    )
    if paramiko is None:
        module.fail_json(msg=missing_required_lib("paramiko"), exception=PARAMIKO_IMPORT_ERROR)
    p = module.params
    if p["passes"] < 1 or p["max_seconds"] < 1:
        module.fail_json(msg="passes and max_seconds must be at least 1")
    if module.check_mode:
        module.exit_json(changed=False, parsed=None, result="incomplete", bytes_read=0, seconds=0.0,
                         reasons=["check mode: the console was not read"])
    client = connect(module)
    if p["connect_only"]:
        client.close()
        module.exit_json(changed=False, parsed=None, result="connected", bytes_read=0, seconds=0.0,
                         reasons=["controller %s:%d accepted the console credentials" % (p["host"], p["port"])])
    try:
        channel = client.get_transport().open_session(timeout=p["connect_timeout"])
        channel.exec_command(p["command"])
        text, parsed, stop, why, seconds = read_until_done(module, channel)
        channel.close()
    finally:
        client.close()
    if parsed is None:
        result, reasons = "incomplete", ["no memtest86+ screen on the console (%s)" % (why or "nothing read")]
    elif parsed["errors"] > 0:
        result, reasons = "failed", [why]
    elif stop:
        result, reasons = "passed", [why]
    else:
        result = "incomplete"
        reasons = ["%s: pass %d at %s%%, test #%s, no errors so far" % (
            why, parsed["passes"] + 1, parsed["pass_percent"],
            parsed["test"]["number"] if parsed["test"] else "?")]
    module.exit_json(changed=False, screen=render_screen(text) if text else [], parsed=parsed, result=result,
                     reasons=reasons, bytes_read=len(text.encode("utf-8")), seconds=round(seconds, 1))


if __name__ == "__main__":
    main()

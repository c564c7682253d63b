#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: oops_symbolize
short_description: Resolve kernel oops frames (symbol+offset/size) to source file, line and inline chain
description:
  - Takes oops records (the findings of C(kernel_log_info) or the C(pteguard analyze) document, or raw oops text)
    and resolves each frame, the RIP/PC first and then the call trace, to file:line with the inline chain.
  - Resolves C(symbol+0xOFF/0xSIZE) against the symbol's own start in the ELF that has debug info, as the kernel's
    C(scripts/faddr2line) does, so KASLR and module load addresses do not matter. The printed size must equal the
    ELF's, and the ELF's build-id must equal the running one's when it is known; otherwise the frame says so and no
    line is reported for it.
  - Looks for debug info in O(debug_dirs), C(/usr/lib/debug/lib/modules/<release>), C(modinfo -n),
    C(/lib/modules/<release>) and, for frames outside modules, C(vmlinux-<release>) under C(/usr/lib/debug/boot),
    C(/usr/lib/debug/lib/modules/<release>), C(/boot) or the module build tree.
  - When no debug info is found it says so and names the package that would carry it (Debian
    C(linux-image-<abi>-dbg), Ubuntu C(-dbgsym), RHEL C(kernel-debuginfo)).
  - Can run on a delegate host that holds the symbols (C(delegate_to)); pass the target's O(release) and the
    build-ids collected on the target (O(build_ids)), so the production host needs no debug packages.
  - Read-only. Needs C(readelf) and C(addr2line) (binutils) on the host it runs on.
version_added: "0.2.0"
author:
  - pteguard maintainers (@pteguard)
options:
  oopses:
    description:
      - Oops records. A finding with C(symbol), C(offset), C(size), C(module), C(call_trace_at) (as
        C(kernel_log_info) returns them), or a dict with C(text) holding raw oops lines.
    type: list
    elements: dict
    required: true
  release:
    description:
      - Kernel release of the host that oopsed (C(uname -r) there). Default the release running where the module
        runs, which is right only when it runs on that host.
    type: str
  debug_dirs:
    description: Directories searched first (recursively) for C(<module>.ko), C(<module>.ko.debug) and C(vmlinux-<release>).
    type: list
    elements: path
    default: []
  build_ids:
    description:
      - Build-ids of the running kernel (key C(vmlinux)) and modules (module name) on the host that oopsed.
      - When empty and the module runs on a host whose running release is O(release), they are read from
        C(/sys/kernel/notes) and C(/sys/module/<m>/notes).
    type: dict
    default: {}
  build_ids_only:
    description:
      - Only read the build-ids of the running kernel and of the modules the records name, from this host's sysfs,
        and return them (no debug info, no binutils needed). Run it on the host that oopsed, then pass the result
        as O(build_ids) to the run on the delegate.
    type: bool
    default: false
  distribution:
    description: os-release C(ID)/C(ID_LIKE) of the host that oopsed, for the package hint; default this host's.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    description: Read-only; it runs the same in check mode.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
notes:
  - A frame whose build-id does not match is reported with status C(build_id_mismatch) and no line.
"""

EXAMPLES = r"""
- name: Debug | symbolize the oopses found on this host, here
  pteguard.remediation.oops_symbolize:
    oopses: "{{ pteguard_kernel_log.findings | selectattr('category', 'in', ['kernel_oops', 'pte_corruption']) }}"
  register: pteguard_symbolized

- name: Debug | symbolize on a bastion that holds the debug symbols
  pteguard.remediation.oops_symbolize:
    oopses: "{{ pteguard_oopses }}"
    release: "{{ ansible_facts.kernel }}"
    build_ids: "{{ pteguard_build_ids }}"
    debug_dirs: [/srv/symbols/ptcorrupt]
  delegate_to: symbols-bastion
"""

RETURN = r"""
release:
  description: The kernel release the frames were resolved for.
  returned: always
  type: str
  sample: 6.1.0-50-amd64
records:
  description: One entry per oops record, with its frames, and the first resolved location.
  returned: always
  type: list
  elements: dict
  sample:
    - index: 0
      location: /opt/pteguard-lab/kmod/pteguard_testmod.c:162
      function: pteguard_oops_read_unmapped
      frames:
        - {symbol: pteguard_oops_read_unmapped, offset: "1d", size: "24", module: pteguard_testmod, from: rip,
           status: resolved, file: /opt/pteguard-lab/kmod/pteguard_testmod.c, line: 162,
           function: pteguard_oops_read_unmapped, elf: /opt/pteguard-lab/kmod/pteguard_testmod.ko,
           build_id: e46923a1977629dda77aa2812896be37989f6dac, build_id_verified: true, section: .text}
missing:
  description: Objects (a module, or vmlinux) without debug info, each with the message naming the package.
  returned: always
  type: list
  elements: dict
  sample: [{object: vmlinux, message: "no vmlinux with debug info for 6.1.0-50-amd64; install linux-image-6.1.0-50-amd64-dbg ..."}]
summary:
  description: Frame counts by status (resolved, no_debug_info, build_id_mismatch, size_mismatch, no_offset, ...).
  returned: always
  type: dict
  sample: {resolved: 2, no_debug_info: 5}
build_ids:
  description: The build-ids compared against (given, or read from this host's sysfs).
  returned: always
  type: dict
  sample: {pteguard_testmod: e46923a1977629dda77aa2812896be37989f6dac}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pteguard.remediation.plugins.module_utils.collect_host import CollectError, ModuleHost
from ansible_collections.pteguard.remediation.plugins.module_utils.symbolize import (
    frames_of, loaded_build_ids, os_ids, symbolize,
)


def run_module():
    module = AnsibleModule(
        argument_spec=dict(
            oopses=dict(type="list", elements="dict", required=True),
            release=dict(type="str"),
            debug_dirs=dict(type="list", elements="path", default=[]),
            build_ids=dict(type="dict", default={}),
            distribution=dict(type="list", elements="str", default=[]),
            build_ids_only=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    host = ModuleHost(module)
    running = os.uname()[2]
    release = module.params["release"] or running
    build_ids = dict(module.params["build_ids"])
    ids = module.params["distribution"]
    try:
        if not ids:
            ids = os_ids(host.read_text("/etc/os-release")) if os.path.exists("/etc/os-release") else []
        if module.params["build_ids_only"] or (not build_ids and release == running):
            modules = set(f.get("module") for rec in module.params["oopses"] for f in frames_of(rec))
            build_ids = loaded_build_ids(host, sorted(m for m in modules if m))
        if module.params["build_ids_only"]:
            module.exit_json(changed=False, build_ids=build_ids, release=running, records=[], missing=[],
                             summary={})
        result = symbolize(host, module.params["oopses"], release, debug_dirs=module.params["debug_dirs"],
                           build_ids=build_ids, os_release_ids=ids)
    except CollectError as exc:
        module.fail_json(msg=str(exc), **exc.details)
    except (OSError, IOError) as exc:
        module.fail_json(msg="oops_symbolize: %s" % exc)
    module.exit_json(changed=False, build_ids=build_ids, **result)


def main():
    run_module()


if __name__ == "__main__":
    main()

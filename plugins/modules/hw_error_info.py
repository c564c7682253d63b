#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: hw_error_info
short_description: Read hardware-error records from rasdaemon, mcelog, EDAC and the kernel
description:
  - Reads, never changes, every hardware-error source the host has - rasdaemon's SQLite database
    (opened read-only) or C(ras-mc-ctl --errors), mcelog's log or C(mcelog --client), EDAC
    memory-controller counters per controller and DIMM with their labels, C(HardwareCorrupted)
    from C(/proc/meminfo) and the kernel taint bitmask.
  - Reports which backends exist and run, and every source it could not read with the reason.
  - Returns findings in the same form as the kernel-log parser (category, severity, message, ...).
version_added: "0.1.0"
author:
  - pteguard maintainers (@pteguard)
options:
  rasdaemon_db:
    description: rasdaemon's SQLite database.
    type: path
    default: /var/lib/rasdaemon/ras-mc_event.db
  use_ras_mc_ctl:
    description: Run C(ras-mc-ctl --errors) when the database cannot be read and the tool exists.
    type: bool
    default: true
  mcelog_log:
    description: mcelog's log file.
    type: path
    default: /var/log/mcelog
  mcelog_device:
    description: The legacy machine-check character device that mcelog needs.
    type: path
    default: /dev/mcelog
  use_mcelog_client:
    description: Run C(mcelog --client) when the mcelog binary and its device exist.
    type: bool
    default: true
  edac_root:
    description: EDAC memory-controller directory in sysfs.
    type: path
    default: /sys/devices/system/edac/mc
  meminfo_path:
    description: Where to read C(HardwareCorrupted).
    type: path
    default: /proc/meminfo
  tainted_path:
    description: Where to read the kernel taint bitmask.
    type: path
    default: /proc/sys/kernel/tainted
  max_records:
    description: Newest records kept per rasdaemon table.
    type: int
    default: 200
attributes:
  check_mode:
    description: Read-only; it runs the same in check mode and never changes the host.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
notes:
  - Read-only. Check mode runs the same reads.
"""

EXAMPLES = r"""
- name: Hardware errors | read every source this host has
  pteguard.remediation.hw_error_info:
  register: pteguard_hw_errors

- name: Hardware errors | show the findings
  ansible.builtin.debug:
    var: pteguard_hw_errors.findings
"""

RETURN = r"""
backends:
  description: Availability and state of each backend.
  returned: always
  type: dict
  sample:
    rasdaemon: {installed: true, service: active, db_path: /var/lib/rasdaemon/ras-mc_event.db, db_readable: true}
    mcelog: {installed: false, device_present: false, log_present: false}
    edac: {present: true, controllers: 0}
sources:
  description: Per source, whether it was read (C(ok)) and, when not, why (C(reason)).
  returned: always
  type: dict
  sample: {edac: {ok: true}, rasdaemon_db: {ok: false, reason: "/var/lib/rasdaemon/ras-mc_event.db does not exist"}}
unreadable_sources:
  description: The sources that could not be read, each with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{source: mcelog, reason: "/dev/mcelog absent (kernel without CONFIG_X86_MCELOG_LEGACY)"}]
rasdaemon:
  description: Tables read from the database (or the parsed ras-mc-ctl output) and a summary.
  returned: always
  type: dict
  sample: {summary: {memory_ce: 1, memory_ue: 0, mce_corrected: 1}}
mcelog:
  description: Parsed mcelog records and daemon messages.
  returned: always
  type: dict
  sample: {records: [], messages: []}
edac:
  description: EDAC controllers, their modules (dimmN/rankN) with labels and counters, and totals.
  returned: always
  type: dict
  sample: {present: true, ce_total: 0, ue_total: 0, controllers: []}
edac_locations:
  description: EDAC places with non-zero counters.
  returned: always
  type: list
  elements: dict
  sample: [{mc: mc0, location: dimm1, label: DIMM_A2, ce_count: 3, ue_count: 0}]
hardware_corrupted_kb:
  description: HardwareCorrupted from /proc/meminfo, in kB (null when unreadable).
  returned: always
  type: int
  sample: 0
taint:
  description: The decoded taint bitmask (null when unreadable).
  returned: always
  type: dict
  sample: {value: 4096, letters: O, names: [out_of_tree_module]}
findings:
  description: Findings in the kernel-log parser's form (category, severity, message, source, signature, ...).
  returned: always
  type: list
  elements: dict
  sample: [{category: memory_error_corrected, severity: warning, source: edac, dimm: DIMM_A2, count: 3}]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pteguard.remediation.plugins.module_utils.edac import (
    edac_error_locations, read_edac_sysfs)
from ansible_collections.pteguard.remediation.plugins.module_utils.host_state import (
    HostStateParseError, decode_taint, host_state_findings, parse_meminfo)
from ansible_collections.pteguard.remediation.plugins.module_utils.mcelog import (
    McelogParseError, parse_mcelog)
from ansible_collections.pteguard.remediation.plugins.module_utils.rasdaemon import (
    RasdaemonError, db_findings, parse_ras_mc_ctl, ras_mc_ctl_findings, read_rasdaemon_db, summarize_db)

ENV = {"LC_ALL": "C"}
MAX_READ = 8 * 1024 * 1024


def _read_text(path):
    # Small reads: procfs sysctl files refuse one huge read() (ENOMEM for /proc/sys/kernel/tainted).
    chunks = []
    size = 0
    with open(path, "rb") as handle:
        while size < MAX_READ:
            chunk = handle.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def _unit_state(module, systemctl, unit):
    if not systemctl:
        return None
    rc, out, _err = module.run_command([systemctl, "is-active", unit], environ_update=ENV)
    state = (out or "").strip() or None
    # is-active: rc 0 active; 3 inactive/failed; 4 no such unit
    if rc == 4 or state in (None, "unknown") and rc != 0:
        return "not-found"
    return state


def run_module():
    module = AnsibleModule(
        argument_spec=dict(
            rasdaemon_db=dict(type="path", default="/var/lib/rasdaemon/ras-mc_event.db"),
            use_ras_mc_ctl=dict(type="bool", default=True),
            mcelog_log=dict(type="path", default="/var/log/mcelog"),
            mcelog_device=dict(type="path", default="/dev/mcelog"),
            use_mcelog_client=dict(type="bool", default=True),
            edac_root=dict(type="path", default="/sys/devices/system/edac/mc"),
            meminfo_path=dict(type="path", default="/proc/meminfo"),
            tainted_path=dict(type="path", default="/proc/sys/kernel/tainted"),
            max_records=dict(type="int", default=200),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["max_records"] < 1:
        module.fail_json(msg="max_records must be at least 1")
    sources = {}
    findings = []

    def bad(name, reason):
        sources[name] = {"ok": False, "reason": reason}

    systemctl = module.get_bin_path("systemctl")
    ras_mc_ctl = module.get_bin_path("ras-mc-ctl")
    rasdaemon_bin = module.get_bin_path("rasdaemon")
    mcelog_bin = module.get_bin_path("mcelog")

    # --- rasdaemon -------------------------------------------------------------------
    ras = {"db": None, "ras_mc_ctl": None, "summary": None}
    ras_backend = {
        "installed": bool(rasdaemon_bin or ras_mc_ctl),
        "service": _unit_state(module, systemctl, "rasdaemon.service"),
        "db_path": p["rasdaemon_db"],
        "db_readable": False,
        "ras_mc_ctl": ras_mc_ctl,
    }
    try:
        db = read_rasdaemon_db(p["rasdaemon_db"], max_records=p["max_records"])
        ras["db"] = db
        ras["summary"] = summarize_db(db)
        ras_backend["db_readable"] = True
        sources["rasdaemon_db"] = {"ok": True}
        findings.extend(db_findings(db))
    except RasdaemonError as exc:
        bad("rasdaemon_db", str(exc))
    if not ras_backend["db_readable"] and p["use_ras_mc_ctl"]:
        if not ras_mc_ctl:
            bad("ras_mc_ctl", "ras-mc-ctl not installed")
        else:
            rc, out, err = module.run_command([ras_mc_ctl, "--errors"], environ_update=ENV)
            if rc != 0:
                bad("ras_mc_ctl", "ras-mc-ctl --errors exited %d: %s" % (rc, (err or out).strip()[:300]))
            else:
                try:
                    parsed = parse_ras_mc_ctl(out)
                    ras["ras_mc_ctl"] = parsed
                    ras["summary"] = parsed["totals"]
                    sources["ras_mc_ctl"] = {"ok": True}
                    findings.extend(ras_mc_ctl_findings(parsed))
                except RasdaemonError as exc:
                    bad("ras_mc_ctl", "cannot parse ras-mc-ctl output: %s" % exc)

    # --- mcelog ----------------------------------------------------------------------
    mce = {"records": [], "messages": []}
    mce_backend = {
        "installed": bool(mcelog_bin),
        "device_present": os.path.exists(p["mcelog_device"]),
        "log_present": os.path.isfile(p["mcelog_log"]),
        "service": _unit_state(module, systemctl, "mcelog.service") if mcelog_bin else None,
    }
    texts = []
    if mce_backend["log_present"]:
        try:
            texts.append(("mcelog_log", _read_text(p["mcelog_log"])))
        except (IOError, OSError) as exc:
            bad("mcelog_log", "cannot read %s: %s" % (p["mcelog_log"], exc))
    else:
        bad("mcelog_log", "%s does not exist" % p["mcelog_log"])
    if p["use_mcelog_client"]:
        if not mcelog_bin:
            bad("mcelog_client", "mcelog not installed")
        elif not mce_backend["device_present"]:
            bad("mcelog_client", "%s absent (kernel without CONFIG_X86_MCELOG_LEGACY): mcelog cannot run here"
                % p["mcelog_device"])
        else:
            rc, out, err = module.run_command([mcelog_bin, "--client"], environ_update=ENV)
            if rc != 0:
                bad("mcelog_client", "mcelog --client exited %d: %s" % (rc, (err or out).strip()[:300]))
            else:
                texts.append(("mcelog_client", out))
    for name, text in texts:
        try:
            parsed = parse_mcelog(text)
        except McelogParseError as exc:
            bad(name, "cannot parse: %s" % exc)
            continue
        sources[name] = {"ok": True}
        for rec in parsed["records"]:
            rec["source"] = name
            mce["records"].append(rec)
            f = {"category": rec["category"], "severity": rec["severity"], "source": name,
                 "signature": "mcelog.record", "line": rec["line"],
                 "message": rec.get("mca") or ("machine check on CPU %s bank %s" % (rec["cpu"], rec["bank"])),
                 "cpu": rec["cpu"], "bank": rec["bank"]}
            if rec.get("time"):
                f["time"] = str(rec["time"])
            if rec.get("status"):
                f["mce_status"] = rec["status"]
            if rec.get("address"):
                f["address"] = rec["address"]
            findings.append(f)
        mce["messages"].extend(parsed["messages"])

    # --- EDAC ------------------------------------------------------------------------
    edac = read_edac_sysfs(p["edac_root"])
    locations = edac_error_locations(edac)
    if not edac["present"] or not edac["controllers"]:
        # no tree, or a tree without controllers: no EDAC coverage on this host
        bad("edac", edac["reason"])
    else:
        sources["edac"] = {"ok": not edac["errors"]}
        if edac["errors"]:
            sources["edac"]["reason"] = "; ".join("%s: %s" % (e["path"], e["reason"]) for e in edac["errors"][:5])
    for loc in locations:
        where = loc["label"] or "%s/%s" % (loc["mc"], loc["location"])
        if loc["ue_count"]:
            findings.append({"category": "memory_error_uncorrected", "severity": "critical", "source": "edac",
                             "signature": "edac.ue_count", "dimm": where, "count": loc["ue_count"],
                             "message": "EDAC: %d uncorrected errors on %s" % (loc["ue_count"], where)})
        if loc["ce_count"]:
            findings.append({"category": "memory_error_corrected", "severity": "warning", "source": "edac",
                             "signature": "edac.ce_count", "dimm": where, "count": loc["ce_count"],
                             "message": "EDAC: %d corrected errors on %s" % (loc["ce_count"], where)})

    # --- meminfo and taint -------------------------------------------------------------
    meminfo = None
    try:
        meminfo = parse_meminfo(_read_text(p["meminfo_path"]))
        sources["meminfo"] = {"ok": True}
        if meminfo["hardware_corrupted_kb"] is None:
            sources["meminfo"]["reason"] = "no HardwareCorrupted line (kernel without CONFIG_MEMORY_FAILURE)"
    except (IOError, OSError) as exc:
        bad("meminfo", "cannot read %s: %s" % (p["meminfo_path"], exc))
    except HostStateParseError as exc:
        bad("meminfo", str(exc))
    taint = None
    try:
        taint = decode_taint(_read_text(p["tainted_path"]))
        sources["taint"] = {"ok": True}
    except (IOError, OSError) as exc:
        bad("taint", "cannot read %s: %s" % (p["tainted_path"], exc))
    except HostStateParseError as exc:
        bad("taint", str(exc))
    findings.extend(host_state_findings(meminfo=meminfo, taint=taint))

    unreadable = [{"source": k, "reason": v.get("reason")} for k, v in sorted(sources.items()) if not v["ok"]]
    module.exit_json(
        changed=False,
        backends={"rasdaemon": ras_backend, "mcelog": mce_backend,
                  "edac": {"present": edac["present"], "controllers": len(edac["controllers"]),
                           "reason": edac["reason"]}},
        sources=sources,
        unreadable_sources=unreadable,
        rasdaemon=ras,
        mcelog=mce,
        edac=edac,
        edac_locations=locations,
        hardware_corrupted_kb=(meminfo or {}).get("hardware_corrupted_kb"),
        taint=taint,
        findings=findings,
    )


def main():
    run_module()


if __name__ == "__main__":
    main()

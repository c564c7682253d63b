# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse smartctl output (``--json`` for ATA/SATA, SCSI/SAS and NVMe; ``-a`` text as a fallback).

Pure Python, no Ansible import: runs on targets (disk_health_info) and on the controller (CLI).

The result of :func:`parse_smartctl` is a plain JSON-serialisable dict with identity (model,
serial, protocol), the overall health, the counters that predict failure, the self-test log,
smartctl's decoded exit status and a verdict:

- ``healthy``: nothing worrying was read;
- ``errors-present``: the drive works but has logged media, link or self-test errors;
- ``failing``: the drive (or smartctl on its behalf) says it is failing;
- ``unreadable``: smartctl could not open or query the drive, so its health is unknown.

Each verdict comes with ``reasons``: dicts with ``code``, ``severity`` and ``message``.
"""

from __future__ import annotations

import json
import re


class SmartctlParseError(ValueError):
    """The input is not smartctl output (binary junk, truncated JSON, unrelated text)."""


# smartctl(8) "RETURN VALUES": one bit per condition; bits 0-2 mean the data is incomplete.
EXIT_STATUS_BITS = (
    (0, "command_line_error", "smartctl could not parse its command line"),
    (1, "device_open_failed", "the device could not be opened or did not identify itself "
                              "(missing, unsupported, or in a low-power mode)"),
    (2, "smart_command_failed", "a SMART or other device command failed, or a SMART data "
                                "structure had a bad checksum"),
    (3, "disk_failing", "the SMART status check says the disk is failing"),
    (4, "prefail_attribute_at_threshold", "a pre-failure attribute is at or below its threshold"),
    (5, "attribute_past_threshold", "health is OK now, but some attribute was at or below its "
                                    "threshold in the past"),
    (6, "error_log_has_errors", "the device error log holds error records"),
    (7, "self_test_log_has_errors", "the self-test log holds failed tests"),
)

SEVERITY_ORDER = ("info", "warning", "error", "critical")

# NVMe SMART/Health log, Critical Warning byte (NVMe base spec, Get Log Page 02h).
NVME_CRITICAL_WARNING_BITS = (
    (0, "available_spare_low", "critical"),
    (1, "temperature_threshold", "warning"),
    (2, "reliability_degraded", "critical"),
    (3, "read_only", "critical"),
    (4, "volatile_backup_failed", "critical"),
    (5, "persistent_memory_read_only", "critical"),
)

# ATA attribute ids that matter, with the key each one fills.
ATA_ATTRIBUTES = {
    5: "reallocated_sectors",
    187: "reported_uncorrectable",
    188: "command_timeouts",
    196: "reallocation_events",
    197: "pending_sectors",
    198: "offline_uncorrectable",
    199: "udma_crc_errors",
}
# Vendors reuse ids; the name decides when it disagrees with the id's usual meaning.
ATA_ATTRIBUTE_NAMES = {
    "Reallocated_Sector_Ct": "reallocated_sectors",
    "Reported_Uncorrect": "reported_uncorrectable",
    "Command_Timeout": "command_timeouts",
    "Reallocated_Event_Count": "reallocation_events",
    "Current_Pending_Sector": "pending_sectors",
    "Offline_Uncorrectable": "offline_uncorrectable",
    "UDMA_CRC_Error_Count": "udma_crc_errors",
}

COUNTER_KEYS = (
    "reallocated_sectors", "pending_sectors", "offline_uncorrectable", "udma_crc_errors",
    "reported_uncorrectable", "command_timeouts", "reallocation_events",
    "media_errors", "critical_warning", "percentage_used", "available_spare",
    "available_spare_threshold", "error_log_entries", "grown_defects",
    "read_uncorrected", "write_uncorrected", "verify_uncorrected",
)


def decode_exit_status(rc) -> dict:
    """Decode smartctl's exit status bitmask (0-255) into named conditions."""
    if isinstance(rc, bool) or not isinstance(rc, int):
        try:
            rc = int(str(rc).strip(), 0)
        except ValueError:
            raise SmartctlParseError("smartctl exit status is not an integer: %r" % (rc,))
    if rc < 0 or rc > 255:
        raise SmartctlParseError("smartctl exit status %d is outside 0-255 (killed by a signal?)" % rc)
    bits = []
    for bit, name, text in EXIT_STATUS_BITS:
        if rc >> bit & 1:
            bits.append({"bit": bit, "name": name, "description": text})
    names = [b["name"] for b in bits]
    return {
        "value": rc,
        "bits": bits,
        "names": names,
        # bits 0-2: smartctl could not read (all of) the device; its health data is incomplete
        "data_incomplete": bool(rc & 0x07),
        "device_open_failed": bool(rc & 0x03),
    }


# ---------------------------------------------------------------------------
# helpers


def _check_text(data) -> str:
    if isinstance(data, bytes):
        if b"\x00" in data:
            raise SmartctlParseError("smartctl output contains NUL bytes (binary data?)")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SmartctlParseError("smartctl output is not UTF-8 text")
    if not isinstance(data, str):
        raise SmartctlParseError("smartctl output must be text, got %s" % type(data).__name__)
    if "\x00" in data:
        raise SmartctlParseError("smartctl output contains NUL characters (binary data?)")
    sample = data[:4096]
    if sample:
        bad = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n\f")
        if bad * 20 > len(sample):
            raise SmartctlParseError("smartctl output is mostly control characters (binary data?)")
    return data


def _int(value):
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return _text_int(str(value))


_NUM_RE = re.compile(r"^\s*(0x[0-9a-fA-F]+|\d+(?:[,.'\u2019\u00a0 ]\d{3})*)")


def _text_int(text):
    """First integer in a smartctl text value: '6\u2019433', '1,698,774,134 [..]', '1%', '0x00'."""
    if text is None:
        return None
    m = _NUM_RE.match(text)
    if not m:
        return None
    token = m.group(1)
    if token.lower().startswith("0x"):
        return int(token, 16)
    return int(re.sub(r"\D", "", token))


def _reason(code, severity, message, **extra):
    item = {"code": code, "severity": severity, "message": message}
    item.update(extra)
    return item


def _max_severity(reasons):
    best = None
    for r in reasons:
        sev = r.get("severity")
        if sev in SEVERITY_ORDER and (best is None or SEVERITY_ORDER.index(sev) > SEVERITY_ORDER.index(best)):
            best = sev
    return best


def _empty_report():
    report = {
        "format": None,
        "device": None,
        "device_type": None,
        "protocol": None,
        "model": None,
        "serial": None,
        "firmware": None,
        "smartctl_version": None,
        "smart_available": None,
        "smart_enabled": None,
        "overall_health": None,
        "smart_status_passed": None,
        "exit_status": None,
        "power_on_hours": None,
        "temperature": None,
        "attributes": [],
        "failing_attributes": [],
        "past_failing_attributes": [],
        "nvme_critical_warning_flags": [],
        "self_tests": [],
        "self_test_errors": 0,
        "self_test_in_progress": None,
        "self_test_remaining_percent": None,
        "error_log_count": None,
        "messages": [],
        "verdict": None,
        "reasons": [],
    }
    for key in COUNTER_KEYS:
        report[key] = None
    return report


# ---------------------------------------------------------------------------
# JSON


def _parse_json_doc(doc) -> dict:
    if not isinstance(doc, dict):
        raise SmartctlParseError("smartctl JSON must be an object, got %s" % type(doc).__name__)
    known = ("smartctl", "device", "json_format_version", "model_name", "smart_status",
             "ata_smart_attributes", "nvme_smart_health_information_log", "scsi_grown_defect_list")
    if not any(k in doc for k in known):
        raise SmartctlParseError("JSON object does not look like smartctl output (no smartctl/device keys)")
    r = _empty_report()
    r["format"] = "json"
    sc = doc.get("smartctl") or {}
    if isinstance(sc, dict):
        ver = sc.get("version")
        if isinstance(ver, list) and ver:
            r["smartctl_version"] = ".".join(str(v) for v in ver)
        if "exit_status" in sc:
            try:
                r["exit_status"] = decode_exit_status(sc.get("exit_status"))
            except SmartctlParseError:
                r["exit_status"] = None
        for msg in sc.get("messages") or []:
            if isinstance(msg, dict):
                r["messages"].append({"text": str(msg.get("string", "")),
                                      "severity": str(msg.get("severity", ""))})
    dev = doc.get("device") or {}
    if isinstance(dev, dict):
        r["device"] = dev.get("name")
        r["device_type"] = dev.get("type")
        r["protocol"] = dev.get("protocol")
    r["model"] = doc.get("model_name") or doc.get("scsi_model_name") or doc.get("product")
    r["serial"] = doc.get("serial_number")
    r["firmware"] = doc.get("firmware_version") or doc.get("revision")
    support = doc.get("smart_support")
    if isinstance(support, dict):
        r["smart_available"] = support.get("available")
        r["smart_enabled"] = support.get("enabled")
    status = doc.get("smart_status")
    if isinstance(status, dict) and "passed" in status:
        r["smart_status_passed"] = bool(status.get("passed"))
        r["overall_health"] = "PASSED" if status.get("passed") else "FAILED"
    pot = doc.get("power_on_time")
    if isinstance(pot, dict):
        r["power_on_hours"] = _int(pot.get("hours"))
    temp = doc.get("temperature")
    if isinstance(temp, dict):
        r["temperature"] = _int(temp.get("current"))

    # ATA attributes
    table = (doc.get("ata_smart_attributes") or {}).get("table") or []
    for row in table:
        if not isinstance(row, dict):
            continue
        raw = row.get("raw") or {}
        flags = row.get("flags") or {}
        attr = {
            "id": _int(row.get("id")),
            "name": row.get("name"),
            "value": _int(row.get("value")),
            "worst": _int(row.get("worst")),
            "thresh": _int(row.get("thresh")),
            "when_failed": row.get("when_failed") or "",
            "prefailure": bool(flags.get("prefailure")) if isinstance(flags, dict) else None,
            "raw_value": _int(raw.get("value")) if isinstance(raw, dict) else None,
            "raw_string": raw.get("string") if isinstance(raw, dict) else None,
        }
        _take_ata_attribute(r, attr)
    # ATA logs
    err_log = doc.get("ata_smart_error_log")
    if isinstance(err_log, dict):
        for part in ("extended", "summary"):
            sect = err_log.get(part)
            if isinstance(sect, dict) and sect.get("count") is not None:
                r["error_log_count"] = _int(sect.get("count"))
                break
    st_log = doc.get("ata_smart_self_test_log")
    if isinstance(st_log, dict):
        for part in ("extended", "standard"):
            sect = st_log.get(part)
            if not isinstance(sect, dict):
                continue
            for entry in sect.get("table") or []:
                if not isinstance(entry, dict):
                    continue
                st = entry.get("status") or {}
                r["self_tests"].append({
                    "type": (entry.get("type") or {}).get("string"),
                    "status": st.get("string"),
                    "passed": st.get("passed"),
                    "lifetime_hours": _int(entry.get("lifetime_hours")),
                    "lba": _int(entry.get("lba")),
                })
            if sect.get("error_count_total") is not None:
                r["self_test_errors"] = _int(sect.get("error_count_total")) or 0
            break

    # NVMe
    nv = doc.get("nvme_smart_health_information_log")
    if isinstance(nv, dict):
        r["critical_warning"] = _int(nv.get("critical_warning"))
        r["media_errors"] = _int(nv.get("media_errors"))
        r["percentage_used"] = _int(nv.get("percentage_used"))
        r["available_spare"] = _int(nv.get("available_spare"))
        r["available_spare_threshold"] = _int(nv.get("available_spare_threshold"))
        r["error_log_entries"] = _int(nv.get("num_err_log_entries"))
        if r["power_on_hours"] is None:
            r["power_on_hours"] = _int(nv.get("power_on_hours"))
        if r["temperature"] is None:
            r["temperature"] = _int(nv.get("temperature"))
        if not r["protocol"]:
            r["protocol"] = "NVMe"
    nst = doc.get("nvme_self_test_log")
    if isinstance(nst, dict):
        for entry in nst.get("table") or []:
            if not isinstance(entry, dict):
                continue
            res = entry.get("self_test_result") or {}
            code = _int(res.get("value"))
            r["self_tests"].append({
                "type": (entry.get("self_test_code") or {}).get("string"),
                "status": res.get("string"),
                "passed": None if code is None else code == 0,
                "lifetime_hours": _int(entry.get("power_on_hours")),
                "lba": _int(entry.get("lba")),
            })
        r["self_test_errors"] = sum(1 for t in r["self_tests"] if t["passed"] is False)

    # SCSI / SAS
    if "scsi_grown_defect_list" in doc:
        r["grown_defects"] = _int(doc.get("scsi_grown_defect_list"))
    ecl = doc.get("scsi_error_counter_log")
    if isinstance(ecl, dict):
        for op in ("read", "write", "verify"):
            sect = ecl.get(op)
            if isinstance(sect, dict):
                r["%s_uncorrected" % op] = _int(sect.get("total_uncorrected_errors"))
    sst = doc.get("scsi_self_test_0")
    idx = 0
    while isinstance(sst, dict) and idx < 20:
        res = sst.get("result") or {}
        code = _int(res.get("value"))
        r["self_tests"].append({
            "type": (sst.get("code") or {}).get("string"),
            "status": res.get("string"),
            "passed": None if code is None else code == 0,
            "lifetime_hours": _int((sst.get("power_on_time") or {}).get("hours")),
            "lba": _int(sst.get("lba_first_failure", {}).get("value")
                        if isinstance(sst.get("lba_first_failure"), dict) else None),
        })
        idx += 1
        sst = doc.get("scsi_self_test_%d" % idx)
    if isinstance(doc.get("scsi_self_test_0"), dict):
        r["self_test_errors"] = sum(1 for t in r["self_tests"] if t["passed"] is False)
    _take_self_test_progress(r, doc)
    if not r["protocol"] and ("scsi_grown_defect_list" in doc or ecl):
        r["protocol"] = "SCSI"
    return r


def _take_self_test_progress(r, doc):
    """Whether a self-test is running now (None when the output does not say): ATA's self-test execution status
    (high nibble 15 = in progress, ATA8-ACS), NVMe's current self-test operation (0 = none), or SCSI's newest
    self-test log entry with result 15 (SPC: in progress)."""
    status = ((doc.get("ata_smart_data") or {}).get("self_test") or {}).get("status")
    nst = doc.get("nvme_self_test_log")
    if isinstance(status, dict) and _int(status.get("value")) is not None:
        r["self_test_in_progress"] = _int(status.get("value")) >> 4 == 15
        if r["self_test_in_progress"]:
            r["self_test_remaining_percent"] = _int(status.get("remaining_percent"))
    elif isinstance(nst, dict) and isinstance(nst.get("current_self_test_operation"), dict):
        r["self_test_in_progress"] = _int(nst["current_self_test_operation"].get("value")) not in (0, None)
        if r["self_test_in_progress"]:
            done = _int(nst.get("current_self_test_completion_percent"))
            r["self_test_remaining_percent"] = None if done is None else 100 - done
    elif isinstance(doc.get("scsi_self_test_0"), dict):
        r["self_test_in_progress"] = _int((doc["scsi_self_test_0"].get("result") or {}).get("value")) == 15


def _take_ata_attribute(r, attr):
    r["attributes"].append(attr)
    key = ATA_ATTRIBUTE_NAMES.get(attr["name"] or "")
    if key is None and attr["name"] is None:
        key = ATA_ATTRIBUTES.get(attr["id"])
    if key is not None and r.get(key) is None:
        raw = attr["raw_value"]
        # Some raw values pack several fields; the printed string's first number is the count.
        if attr.get("raw_string"):
            first = _text_int(attr["raw_string"])
            if first is not None:
                raw = first
        r[key] = raw
    when = (attr.get("when_failed") or "").strip()
    if when and when != "-":
        item = {"id": attr["id"], "name": attr["name"], "when_failed": when,
                "value": attr["value"], "thresh": attr["thresh"]}
        if when.lower() == "now":
            r["failing_attributes"].append(item)
        else:
            r["past_failing_attributes"].append(item)


# ---------------------------------------------------------------------------
# text (smartctl -a / -x)

_ATTR_RE = re.compile(
    r"^\s*(\d{1,3})\s+(\S+)\s+(0x[0-9a-fA-F]{4})\s+(\d+)\s+(\d+)\s+(\d+|---)\s+"
    r"(Pre-fail|Old_age)\s+(Always|Offline)\s+(\S+)\s+(.*?)\s*$")
_ATTR_BRIEF_RE = re.compile(
    r"^\s*(\d{1,3})\s+(\S+)\s+([PO-][O-][S-][R-][C-][K-])\s+(\d+)\s+(\d+)\s+(\d+|---)\s+(\S+)\s+(.*?)\s*$")
_SELFTEST_RE = re.compile(
    r"^#\s*(\d+)\s+(.+?)\s{2,}(.+?)\s{2,}(\d+)%\s+(\S+)\s+(\S+)\s*$")
_NVME_SELFTEST_RE = re.compile(r"^\s*(\d+)\s+(Short|Extended|Vendor Specific)\s+(.+?)\s{2,}(\d+)\b")
_KV_RE = re.compile(r"^([A-Za-z][A-Za-z0-9 ./()_'-]*?):\s+(.*?)\s*$")


def _parse_text(text: str) -> dict:
    lines = text.splitlines()
    r = _empty_report()
    r["format"] = "text"
    recognised = False
    kv = {}
    section = None
    for raw in lines:
        line = raw.rstrip()
        if line.startswith("smartctl ") and "Copyright" not in line:
            m = re.match(r"smartctl\s+(\d+\.\d+)", line)
            if m:
                r["smartctl_version"] = m.group(1)
                recognised = True
            continue
        if line.startswith("=== START OF"):
            recognised = True
            section = line
            continue
        if "overall-health self-assessment test result:" in line:
            recognised = True
            res = line.split(":", 1)[1].strip()
            r["overall_health"] = res.rstrip("!")
            r["smart_status_passed"] = res.upper().startswith("PASSED")
            continue
        if line.startswith("SMART Health Status:"):
            recognised = True
            res = line.split(":", 1)[1].strip()
            r["overall_health"] = res
            r["smart_status_passed"] = res.upper() == "OK"
            continue
        m = _ATTR_RE.match(line)
        if m:
            recognised = True
            _take_ata_attribute(r, {
                "id": int(m.group(1)), "name": m.group(2), "value": int(m.group(4)),
                "worst": int(m.group(5)), "thresh": _text_int(m.group(6)),
                "when_failed": m.group(9) if m.group(9) != "-" else "",
                "prefailure": m.group(7) == "Pre-fail",
                "raw_value": _text_int(m.group(10)), "raw_string": m.group(10),
            })
            continue
        m = _ATTR_BRIEF_RE.match(line)
        if m and section and "SMART" in section:
            recognised = True
            _take_ata_attribute(r, {
                "id": int(m.group(1)), "name": m.group(2), "value": int(m.group(4)),
                "worst": int(m.group(5)), "thresh": _text_int(m.group(6)),
                "when_failed": m.group(7) if m.group(7) != "-" else "",
                "prefailure": m.group(3).startswith("P"),
                "raw_value": _text_int(m.group(8)), "raw_string": m.group(8),
            })
            continue
        m = _SELFTEST_RE.match(line)
        if m:
            status = m.group(3).strip()
            passed = status.lower().startswith("completed without error") or None
            if passed is None and ("failure" in status.lower() or "fail" in status.lower()):
                passed = False
            r["self_tests"].append({
                "type": m.group(2).strip(), "status": status, "passed": passed,
                "lifetime_hours": _text_int(m.group(5)),
                "lba": _text_int(m.group(6)) if m.group(6) != "-" else None,
            })
            continue
        m = _KV_RE.match(line)
        if m:
            key, value = m.group(1).strip(), m.group(2).strip()
            if key not in kv:
                kv[key] = value
    # identity
    for key in ("Device Model", "Model Number", "Product"):
        if key in kv:
            r["model"] = kv[key]
            break
    if kv.get("Vendor") and kv.get("Product"):
        r["model"] = "%s %s" % (kv["Vendor"], kv["Product"])
    r["serial"] = kv.get("Serial Number") or kv.get("Serial number")
    r["firmware"] = kv.get("Firmware Version") or kv.get("Revision")
    if r["model"] or r["serial"]:
        recognised = True
    if "Model Number" in kv or "NVMe Version" in kv or "Critical Warning" in kv:
        r["protocol"] = "NVMe"
    elif "Transport protocol" in kv or "Elements in grown defect list" in kv or \
            ("Vendor" in kv and "Product" in kv):
        r["protocol"] = "SCSI"
    elif "Device Model" in kv or "ATA Version is" in kv or "SATA Version is" in kv or r["attributes"]:
        r["protocol"] = "ATA"
    support = kv.get("SMART support is")
    if support is not None:
        r["smart_available"] = "Available" in support or "Enabled" in support
    # NVMe health log
    if r["protocol"] == "NVMe":
        r["critical_warning"] = _text_int(kv.get("Critical Warning"))
        r["media_errors"] = _text_int(kv.get("Media and Data Integrity Errors"))
        r["percentage_used"] = _text_int(kv.get("Percentage Used"))
        r["available_spare"] = _text_int(kv.get("Available Spare"))
        r["available_spare_threshold"] = _text_int(kv.get("Available Spare Threshold"))
        r["error_log_entries"] = _text_int(kv.get("Error Information Log Entries"))
        r["power_on_hours"] = _text_int(kv.get("Power On Hours"))
        r["temperature"] = _text_int(kv.get("Temperature"))
    else:
        for a in r["attributes"]:
            if a["id"] == 9 and r["power_on_hours"] is None:
                r["power_on_hours"] = _text_int(a["raw_string"])
            if a["id"] in (194, 190) and r["temperature"] is None:
                r["temperature"] = _text_int(a["raw_string"])
    if r["protocol"] == "SCSI":
        r["grown_defects"] = _text_int(kv.get("Elements in grown defect list"))
    for raw in lines:
        m = re.match(r"^(read|write|verify):\s+(.*)$", raw.strip())
        if m and r["protocol"] == "SCSI":
            cols = m.group(2).split()
            if len(cols) >= 7:
                r["%s_uncorrected" % m.group(1)] = _text_int(cols[-1])
        m = re.match(r"^ATA Error Count:\s+(\d+)", raw.strip())
        if m:
            r["error_log_count"] = int(m.group(1))
        if raw.strip() == "No Errors Logged" and r["error_log_count"] is None:
            r["error_log_count"] = 0
        m = _NVME_SELFTEST_RE.match(raw)
        if m and r["protocol"] == "NVMe":
            status = m.group(3).strip()
            r["self_tests"].append({
                "type": m.group(2), "status": status,
                "passed": status.lower().startswith("completed without error"),
                "lifetime_hours": int(m.group(4)), "lba": None})
    r["self_test_errors"] = sum(1 for t in r["self_tests"] if t["passed"] is False)
    for raw in lines:
        low = raw.lower()
        if ("open device" in low and "failed" in low) or "unable to detect device type" in low \
                or "please specify device type" in low or "no such device" in low:
            r["messages"].append({"text": raw.strip(), "severity": "error"})
            recognised = True
    if not recognised:
        raise SmartctlParseError("text does not look like smartctl output (no banner, "
                                 "section header, health line or identity fields)")
    return r


# ---------------------------------------------------------------------------
# verdict


def _judge(r, rc=None):
    if rc is not None:
        r["exit_status"] = decode_exit_status(rc)
    ex = r["exit_status"]
    reasons = []
    has_health = (r["smart_status_passed"] is not None or r["attributes"] or
                  r["critical_warning"] is not None or r["grown_defects"] is not None)
    if ex and ex["device_open_failed"]:
        msg = "; ".join(m["text"] for m in r["messages"] if m.get("text")) or \
            "smartctl could not open the device"
        reasons.append(_reason("device_open_failed", "error", msg))
    elif not has_health and ex and ex["data_incomplete"]:
        reasons.append(_reason("smart_command_failed", "error",
                               "smartctl could not read SMART data from the device"))
    elif not has_health and r["messages"] and any(m["severity"] == "error" for m in r["messages"]):
        reasons.append(_reason("no_health_data", "error",
                               "; ".join(m["text"] for m in r["messages"])))
    if reasons:
        r["reasons"] = reasons
        r["verdict"] = "unreadable"
        return r
    if ex and "smart_command_failed" in ex["names"]:
        reasons.append(_reason("smart_command_failed", "info",
                               "some SMART command failed; the data below may be incomplete"))
    if r["smart_status_passed"] is False:
        reasons.append(_reason("smart_status_failed", "critical",
                               "SMART overall health is %s" % (r["overall_health"] or "FAILED")))
    elif ex and "disk_failing" in ex["names"]:
        reasons.append(_reason("smart_status_failed", "critical", "smartctl reports the disk is failing"))
    for a in r["failing_attributes"]:
        reasons.append(_reason("attribute_failing_now", "critical",
                               "attribute %s (%s) is at or below its threshold now (value %s, threshold %s)"
                               % (a["id"], a["name"], a["value"], a["thresh"]), attribute=a["name"]))
    if ex and "prefail_attribute_at_threshold" in ex["names"] and not r["failing_attributes"]:
        reasons.append(_reason("attribute_failing_now", "critical",
                               "a pre-failure attribute is at or below its threshold"))
    for a in r["past_failing_attributes"]:
        reasons.append(_reason("attribute_failed_in_past", "warning",
                               "attribute %s (%s) was at or below its threshold in the past (%s)"
                               % (a["id"], a["name"], a["when_failed"]), attribute=a["name"]))
    if ex and "attribute_past_threshold" in ex["names"] and not r["past_failing_attributes"]:
        reasons.append(_reason("attribute_failed_in_past", "warning",
                               "some attribute was at or below its threshold in the past"))
    cw = r["critical_warning"]
    if cw:
        for bit, name, sev in NVME_CRITICAL_WARNING_BITS:
            if cw >> bit & 1:
                r["nvme_critical_warning_flags"].append(name)
                reasons.append(_reason("nvme_" + name, sev, "NVMe critical warning: %s" % name.replace("_", " ")))
    spare, thr = r["available_spare"], r["available_spare_threshold"]
    if spare is not None and thr is not None and thr > 0 and spare < thr and \
            "available_spare_low" not in r["nvme_critical_warning_flags"]:
        reasons.append(_reason("nvme_available_spare_low", "critical",
                               "available spare %d%% is below its threshold %d%%" % (spare, thr)))
    counters = (
        ("pending_sectors", "error", "%d sectors pending reallocation (unreadable now)"),
        ("offline_uncorrectable", "error", "%d sectors uncorrectable in offline scan"),
        ("reported_uncorrectable", "error", "%d uncorrectable errors reported to the host"),
        ("media_errors", "error", "%d NVMe media and data integrity errors"),
        ("read_uncorrected", "error", "%d uncorrected read errors"),
        ("write_uncorrected", "error", "%d uncorrected write errors"),
        ("verify_uncorrected", "error", "%d uncorrected verify errors"),
        ("reallocated_sectors", "warning", "%d sectors already reallocated"),
        ("grown_defects", "warning", "%d grown defects (remapped blocks)"),
        ("udma_crc_errors", "warning", "%d interface CRC errors (cable, backplane or controller link)"),
    )
    for key, sev, fmt in counters:
        val = r.get(key)
        if isinstance(val, int) and val > 0:
            reasons.append(_reason(key, sev, fmt % val, count=val))
    if r["self_test_errors"]:
        failed = [t for t in r["self_tests"] if t["passed"] is False]
        lba = next((t["lba"] for t in failed if t.get("lba") is not None), None)
        reasons.append(_reason("self_test_failed", "error",
                               "%d failed self-tests in the log%s" % (
                                   r["self_test_errors"],
                                   "" if lba is None else " (first error at LBA %d)" % lba),
                               count=r["self_test_errors"]))
    elif ex and "self_test_log_has_errors" in ex["names"]:
        reasons.append(_reason("self_test_failed", "error", "the self-test log holds failed tests"))
    if r["protocol"] != "NVMe" and ((r["error_log_count"] or 0) > 0 or
                                    (ex and "error_log_has_errors" in ex["names"])):
        reasons.append(_reason("error_log_has_errors", "warning",
                               "device error log holds %s errors" % (r["error_log_count"]
                                                                     if r["error_log_count"] else "some")))
    pu = r["percentage_used"]
    if isinstance(pu, int) and pu >= 100:
        reasons.append(_reason("endurance_exhausted", "warning",
                               "%d%% of rated endurance used" % pu))
    ele = r["error_log_entries"]
    if isinstance(ele, int) and ele > 0:
        # NVMe error log entries are often host-side command errors (e.g. probing): a note only.
        reasons.append(_reason("nvme_error_log_entries", "info",
                               "%d entries in the NVMe error information log" % ele, count=ele))
    worst = _max_severity(reasons)
    if worst == "critical":
        verdict = "failing"
    elif worst in ("error", "warning"):
        verdict = "errors-present"
    else:
        verdict = "healthy"
    r["reasons"] = reasons
    r["verdict"] = verdict
    return r


def parse_smartctl_json(data, rc=None) -> dict:
    """Parse ``smartctl --json`` output (str, bytes or an already-loaded dict)."""
    if isinstance(data, dict):
        doc = data
    else:
        text = _check_text(data)
        if not text.strip():
            raise SmartctlParseError("smartctl produced no output")
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise SmartctlParseError("smartctl JSON does not parse (truncated?): %s" % exc)
    return _judge(_parse_json_doc(doc), rc)


def parse_smartctl_text(data, rc=None) -> dict:
    """Parse ``smartctl -a``/``-x`` text output (fallback for smartctl < 7 without --json)."""
    text = _check_text(data)
    if not text.strip():
        raise SmartctlParseError("smartctl produced no output")
    return _judge(_parse_text(text), rc)


def parse_smartctl(data, rc=None) -> dict:
    """Parse smartctl output, JSON or text; ``rc`` (the exit status) overrides the JSON's own."""
    if isinstance(data, dict):
        return parse_smartctl_json(data, rc)
    text = _check_text(data)
    if text.lstrip().startswith("{"):
        return parse_smartctl_json(text, rc)
    return parse_smartctl_text(text, rc)


def verdict_severity(report: dict) -> str:
    """Finding severity for a parsed report (``info`` for a healthy drive)."""
    verdict = report.get("verdict")
    if verdict == "failing":
        return "critical"
    if verdict == "unreadable":
        return "warning"
    worst = _max_severity(r for r in report.get("reasons") or [] if r.get("severity") != "critical")
    if verdict == "errors-present":
        return worst if worst in ("error", "warning") else "warning"
    return "info"

# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse mcelog's decoded machine-check records (``mcelog``, ``mcelog --client``,
/var/log/mcelog, or the same lines in syslog behind a ``host mcelog:`` prefix).

A record starts with "Hardware event. This is not a software error." and holds lines such as
``MCE 0``, ``CPU 9 BANK 5``, ``MISC 100 ADDR 389f000``, ``TIME 1549963550 Tue Feb ...``,
status words after "MCi status:", ``MCA: ...`` / ``Transaction: ...`` decodes and
``STATUS fa00... MCGSTATUS 0``. Records cut at either end (a paste, a rotated log) are kept and
marked ``partial``.

Pure Python, no Ansible import; plain JSON-serialisable results.
"""

from __future__ import annotations

import re


from .mce import decode_mce_status


class McelogParseError(ValueError):
    """The input is not mcelog output (binary junk or unrelated text)."""


def decode_status(status) -> dict:
    """Decode an MCi_STATUS value (int or hex string) with the shared decoder (mce.py).

    ``kind`` is ``memory`` when the architectural MCA error code is a memory-controller code
    (0000 0000 1MMM CCCC); AMD reports DRAM errors from its UMC banks with a cache-hierarchy
    code, so callers should also look at the bank name when they have one.
    """
    if isinstance(status, bool) or status is None:
        raise McelogParseError("MCi_STATUS %r is not a 64-bit value" % (status,))
    try:
        decoded = decode_mce_status(status)
    except (TypeError, ValueError):
        raise McelogParseError("MCi_STATUS %r is not a 64-bit value" % (status,))
    return decoded


_MEMORY_WORDS = ("memory controller", "memory read error", "memory write error", "dram",
                 "memory scrubbing", "dimm", "umc", "unified memory controller", "ecc error")


def looks_like_memory(*texts) -> bool:
    """True when a decoded text (bank name, MCA text, error message) names a memory error."""
    for text in texts:
        if text and any(word in text.lower() for word in _MEMORY_WORDS):
            return True
    return False


def classify_record(record: dict):
    """(category, severity) of a parsed MCE record in the finding vocabulary."""
    decoded = record.get("decoded_status") or {}
    uncorrected = record.get("uncorrected")
    if uncorrected is None and decoded:
        uncorrected = decoded.get("uncorrected")
    memory = decoded.get("kind") == "memory" or looks_like_memory(
        record.get("mca"), record.get("transaction"), record.get("bank_name"),
        record.get("error_msg"), " ".join(record.get("memory") or []))
    pcc = record.get("processor_context_corrupt") or decoded.get("processor_context_corrupt")
    if memory:
        if uncorrected:
            return "memory_error_uncorrected", "critical"
        return "memory_error_corrected", "warning"
    if uncorrected:
        return "machine_check_other", "critical" if pcc else "error"
    return "machine_check_other", "warning"


_PREFIX_RE = re.compile(r"^(?:\S+\s+){0,4}?mcelog(?:\[\d+\])?:\s?(.*)$")
_HEADER = "Hardware event. This is not a software error."
_PAIR_KEYS = ("CPU", "BANK", "TSC", "MISC", "ADDR", "STATUS", "MCGSTATUS", "MCGCAP", "APICID",
              "SOCKETID", "IPID", "SYND", "MCA", "PPIN", "MICROCODE", "RIP", "RIP!INEXACT")
_STATUS_WORDS = ("Corrected error", "Uncorrected error", "Error enabled", "Error overflow",
                 "MCi_MISC register valid", "MCi_ADDR register valid", "Processor context corrupt",
                 "SRAR", "SRAO", "Action required", "Uncorrected no action required",
                 "Restart IP valid", "Error IP valid", "Machine check in progress")
_DAEMON_NOISE = ("failed to prefill DIMM database", "read: No such device", "Cannot open",
                 "only decoding architectural errors", "Kernel does not support page offline",
                 "Running trigger", "client connect", "not supported", "No such file")


def _new_record(line_no, partial=False):
    return {
        "line": line_no,
        "partial": partial,
        "mce": None, "cpu": None, "bank": None, "tsc": None, "misc": None, "address": None,
        "status": None, "mcgstatus": None, "mcgcap": None, "apicid": None, "socket": None,
        "time": None, "time_text": None, "cpu_vendor": None, "cpu_family": None, "cpu_model": None,
        "mcg_status_words": [], "mci_status_words": [], "mca": None, "transaction": None,
        "memory": [], "other": [],
        "uncorrected": None, "processor_context_corrupt": False, "decoded_status": None,
    }


def _finish(rec):
    words = rec["mci_status_words"]
    if "Uncorrected error" in words:
        rec["uncorrected"] = True
    elif "Corrected error" in words:
        rec["uncorrected"] = False
    if "Processor context corrupt" in words:
        rec["processor_context_corrupt"] = True
    if rec["status"]:
        try:
            dec = decode_status(rec["status"])
        except (McelogParseError, ValueError):
            dec = None
        rec["decoded_status"] = dec
        if dec:
            if rec["uncorrected"] is None:
                rec["uncorrected"] = dec["uncorrected"]
            rec["processor_context_corrupt"] = rec["processor_context_corrupt"] or \
                dec["processor_context_corrupt"]
    rec["category"], rec["severity"] = classify_record(rec)
    return rec


def parse_mcelog(data, max_records: int = 10000) -> dict:
    """Parse mcelog text into ``records`` (one dict per machine check) and daemon ``messages``."""
    if isinstance(data, bytes):
        if b"\x00" in data:
            raise McelogParseError("mcelog text contains NUL bytes (binary data?)")
        data = data.decode("utf-8", "replace")
    if not isinstance(data, str):
        raise McelogParseError("mcelog output must be text")
    if "\x00" in data:
        raise McelogParseError("mcelog text contains NUL characters (binary data?)")
    if not data.strip():
        # No output is mcelog's normal answer when nothing was logged.
        return {"records": [], "messages": []}
    records = []
    messages = []
    rec = None
    mode = None
    recognised = 0
    for idx, raw in enumerate(data.splitlines(), 1):
        line = raw.rstrip()
        m = _PREFIX_RE.match(line)
        if m:
            inner = m.group(1)
            # "mcelog: mcelog: ..." (the daemon naming itself) or syslog prefix
            m2 = _PREFIX_RE.match(inner)
            line = m2.group(1) if m2 and inner.startswith("mcelog") else inner
            if any(n in line for n in _DAEMON_NOISE) or line.startswith("mcelog"):
                messages.append(line.strip())
                continue
        text = line.strip()
        if not text:
            continue
        if any(n in text for n in _DAEMON_NOISE):
            messages.append(text)
            continue
        if text == _HEADER:
            if rec is not None:
                records.append(_finish(rec))
            if len(records) >= max_records:
                break
            rec = _new_record(idx)
            mode = None
            recognised += 1
            continue
        if rec is None:
            # Body lines before any header: a record cut at its start.
            if re.match(r"^(MCE \d+|CPU \d+|MCG status:|MCi status:|STATUS [0-9a-fA-F]+|MCA: )", text):
                rec = _new_record(idx, partial=True)
            else:
                messages.append(text)
                continue
        m = re.match(r"^MCE (\d+)$", text)
        if m:
            if rec["mce"] is not None:
                records.append(_finish(rec))
                rec = _new_record(idx, partial=True)
            rec["mce"] = int(m.group(1))
            recognised += 1
            continue
        if text == "MCG status:":
            mode = "mcg"
            recognised += 1
            continue
        if text == "MCi status:":
            mode = "mci"
            recognised += 1
            continue
        m = re.match(r"^TIME (\d+)\s*(.*)$", text)
        if m:
            rec["time"] = int(m.group(1))
            rec["time_text"] = m.group(2) or None
            recognised += 1
            continue
        m = re.match(r"^CPUID Vendor (\S+) Family (\d+) Model (\d+)", text)
        if m:
            rec["cpu_vendor"], rec["cpu_family"], rec["cpu_model"] = m.group(1), int(m.group(2)), int(m.group(3))
            recognised += 1
            continue
        if text.startswith("MCA: "):
            rec["mca"] = text[5:].strip()
            mode = None
            recognised += 1
            continue
        if text.startswith("Transaction: "):
            rec["transaction"] = text[13:].strip()
            continue
        if text in _STATUS_WORDS or (mode in ("mcg", "mci") and not re.match(r"^[A-Z]+ ", text)):
            (rec["mcg_status_words"] if mode == "mcg" else rec["mci_status_words"]).append(text)
            continue
        tokens = text.split()
        if tokens and tokens[0] in _PAIR_KEYS and len(tokens) >= 2:
            recognised += 1
            i = 0
            while i + 1 < len(tokens):
                key, val = tokens[i], tokens[i + 1]
                if key == "CPU":
                    rec["cpu"] = int(val) if val.isdigit() else rec["cpu"]
                elif key == "BANK":
                    rec["bank"] = int(val) if val.isdigit() else rec["bank"]
                elif key == "TSC":
                    rec["tsc"] = val
                elif key == "MISC":
                    rec["misc"] = val
                elif key == "ADDR":
                    rec["address"] = val
                elif key == "STATUS":
                    rec["status"] = val
                elif key == "MCGSTATUS":
                    rec["mcgstatus"] = val
                elif key == "MCGCAP":
                    rec["mcgcap"] = val
                elif key == "APICID":
                    rec["apicid"] = val
                elif key == "SOCKETID":
                    rec["socket"] = int(val) if val.isdigit() else val
                i += 2
            continue
        low = text.lower()
        if "dimm" in low or "memory" in low or "channel" in low or "location" in low:
            rec["memory"].append(text)
        else:
            rec["other"].append(text)
    if rec is not None and len(records) < max_records:
        records.append(_finish(rec))
    if records:
        last = records[-1]
        # A record with a header but no status, address or decode was cut at its end.
        if last["status"] is None and not last["mci_status_words"] and last["mca"] is None:
            last["partial"] = True
    if not records and not messages:
        raise McelogParseError("text holds no mcelog records")
    if not records and not recognised and not any("mcelog" in m or "DIMM" in m for m in messages):
        raise McelogParseError("text holds no mcelog records")
    return {"records": records, "messages": messages}

# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Streaming kernel-log triage: lines in, findings out.

KernelLogScanner assembles multi-line records (oopses, machine checks, SCSI
and ATA error reports, AER) from the lines it is fed and emits findings
following the catalogue in signatures.py. It only decodes and matches
lines that carry an anchor, or that fall inside an open record, so the
caller may feed it every line (the pure-Python engine) or only the anchor
lines plus MAX_RECORD_LINES of context after each (the grep engine, see
scan_path): both give the same findings.
"""

from __future__ import annotations

from .addresses import classify_address
from .findings import BoundedFindings
from .log_lines import decode, split_line
from .mce import decode_mce_status, mce_category
from .signatures import (
    ANCHORS,
    CONTINUATIONS,
    INT_FIELDS,
    RECORD_LIMITS,
    SEVERITY_RANK,
    SIGNATURES,
    SIGNATURE_BY_ID,
    SUPPRESSION_ANCHORS,
    SUPPRESSION_CATEGORIES,
    SUPPRESSION_PATTERN,
    highest_severity,
)
from .taint import decode_taint_letters

import re

DEFAULT_MAX_FINDINGS = 1000
MAX_MESSAGE_CHARS = 512
MAX_TRACE_FRAMES = 16
MAX_LISTED_MODULES = 32
MAX_LINKED_MODULES = 64

ANCHORS_BYTES = tuple(a.encode("ascii") for a in ANCHORS)

# uname -m spellings to the names the address and page-table decoders use
_ARCH_NAMES = {"aarch64": "arm64", "amd64": "x86_64"}

# Fields whose differing value means "this is a new event", not more of the open one.
_IDENTITY_FIELDS = ("mce_status", "ghes_source", "edac_kind", "oops_code", "device", "aer_severity")

_FRAME = re.compile(
    r"^\s*(?P<unreliable>\? )?(?:\[<[0-9a-f]+>\] )?(?:\? )?(?P<symbol>[\w.$]+)\+0x(?P<offset>[0-9a-f]+)/0x(?P<size>[0-9a-f]+)"
    r"(?: \[(?P<module>[\w-]+)\])?"
    r"|^\s*\[<[0-9a-f]+>\] \((?P<arm_symbol>[\w.$]+)\) from"
    r"|^\s*(?P<decoded_symbol>[\w.$]+) \([\w/.-]+\.[chS]:\d+"
)
_TRACE_MARKERS = re.compile(r"^\s*</?(?:IRQ|TASK|NMI|#MC|#DF|EOI|SOFTIRQ)>\s*$|^\s*<>")
_MODULE_ENTRY = re.compile(r"^([\w-]+)(?:\(([A-Z]+)\))?$")
_EDAC_DIMM = (
    re.compile(r" on (?P<dimm>[^()]+?) \("),
    re.compile(r'label "(?P<dimm>[^"]+)"'),
)
_EDAC_PAGE = re.compile(r"page:?\s?(?P<page>0x[0-9a-f]+)")

# x86 page-fault error code bits (arch/x86/include/asm/trap_pf.h)
_PF_BITS = ((0, "protection"), (1, "write"), (2, "user"), (3, "reserved_bit"), (4, "instruction_fetch"),
            (5, "protection_key"), (6, "shadow_stack"), (15, "sgx"))


def _hex(value):
    if value is None or value == "":
        return None
    text = str(value).lower()
    return text if text.startswith("0x") else "0x" + text


class _Record(object):
    """An event being assembled from consecutive lines."""

    __slots__ = ("kind", "sig", "line", "time", "message", "fields", "span", "max_gap", "gap", "last",
                 "frames", "in_trace", "in_modules", "modules", "headlines")

    def __init__(self, kind, sig, lineno, when, message):
        self.kind = kind
        self.sig = sig
        self.line = lineno
        self.time = when
        self.message = message[:MAX_MESSAGE_CHARS]
        self.fields = {}
        self.span, self.max_gap = RECORD_LIMITS[kind]
        self.gap = 0
        self.last = lineno
        self.frames = []
        self.in_trace = False
        self.in_modules = False
        self.modules = []
        self.headlines = [sig.id]

    def merge(self, fields):
        for key, value in fields.items():
            if key == "driver":
                drivers = self.fields.setdefault("drivers", [])
                if value not in drivers and value != "pcieport" and len(drivers) < 8:
                    drivers.append(value)
                continue
            if key == "pci_device":
                devices = self.fields.setdefault("devices", [])
                if value not in devices and len(devices) < 8:
                    devices.append(value)
                continue
            if value is not None and key not in self.fields:
                self.fields[key] = value

    def conflicts(self, fields):
        for key in _IDENTITY_FIELDS:
            if key in fields and fields[key] is not None and key in self.fields and self.fields[key] != fields[key]:
                return True
        return False


class KernelLogScanner(object):
    """Feed lines with their 1-based numbers; call finish() for {findings, summary}."""

    def __init__(self, max_findings=DEFAULT_MAX_FINDINGS, arch=None):
        self.max_findings = max_findings
        self.arch = _ARCH_NAMES.get(arch, arch)
        self.kept = BoundedFindings(max_findings)
        self.counts = {}
        self.severity_counts = {}
        self.suppressed = {}
        self.suppressed_by_category = {}
        self.lines = 0
        self.record = None
        self._last_hw = None

    # -- input ------------------------------------------------------------
    def feed(self, lineno, raw, candidate=None):
        """Take one line (bytes or str). candidate: whether it carries an anchor, None = find out."""
        self.lines = lineno
        rec = self.record
        if rec is not None and (lineno - rec.line > rec.span or lineno - rec.last > rec.max_gap):
            self._close()
            rec = None
        if candidate is None:
            candidate = self._has_anchor(raw)
        if not candidate and rec is None:
            return
        when, message = split_line(decode(raw))
        if candidate and self._headline(lineno, when, message):
            return
        if self.record is not None:
            self._continue(self.record, lineno, message)

    @staticmethod
    def _has_anchor(raw):
        anchors = ANCHORS_BYTES if isinstance(raw, bytes) else ANCHORS
        for anchor in anchors:
            if anchor in raw:
                return True
        return False

    def _headline(self, lineno, when, message):
        for anchor in SUPPRESSION_ANCHORS:
            if anchor in message:
                self._suppression(message)
                return True
        for sig in SIGNATURES:
            for anchor in sig.anchors:
                if anchor in message:
                    break
            else:
                continue
            match = sig.regex.search(message)
            if match is None:
                continue
            fields = dict((k, v) for k, v in match.groupdict().items() if v is not None)
            rec = self.record
            if sig.record is None:
                self._emit_single(sig, lineno, when, message, fields)
                return True
            if rec is not None and sig.join and rec.kind == sig.record and not rec.conflicts(fields):
                rec.headlines.append(sig.id)
                rec.merge(fields)
                self._continue(rec, lineno, message)
                return True
            self._close()
            rec = _Record(sig.record, sig, lineno, when, message)
            rec.merge(fields)
            self.record = rec
            self._continue(rec, lineno, message)
            return True
        return False

    def _continue(self, rec, lineno, message):
        matched = False
        for regex in CONTINUATIONS[rec.kind]:
            match = regex.search(message)
            if match is None:
                continue
            fields = dict((k, v) for k, v in match.groupdict().items() if v is not None)
            if rec.conflicts(fields):
                continue
            matched = True
            rec.merge(fields)
            if "call_trace" in fields:
                rec.in_trace, rec.in_modules = True, False
            elif "modules_linked" in fields:
                rec.in_modules, rec.in_trace = True, False
                self._add_modules(rec, fields["modules_linked"])
            elif "end" in fields:
                rec.last = lineno
                self._close()
                return
        if not matched and rec.kind == "oops":
            matched = self._oops_extra(rec, message)
        if matched:
            rec.last = lineno
            rec.gap = 0

    def _oops_extra(self, rec, message):
        if rec.in_trace:
            frame = _FRAME.match(message)
            if frame is not None:
                if len(rec.frames) < MAX_TRACE_FRAMES:
                    symbol = frame.group("symbol") or frame.group("arm_symbol") or frame.group("decoded_symbol")
                    rec.frames.append({"symbol": symbol, "module": frame.group("module"),
                                       "reliable": frame.group("unreliable") is None,
                                       "offset": frame.group("offset"), "size": frame.group("size")})
                return True
            if _TRACE_MARKERS.match(message):
                return True
            rec.in_trace = False
        if rec.in_modules and message.startswith(" "):
            self._add_modules(rec, message)
            return True
        rec.in_modules = False
        return False

    @staticmethod
    def _add_modules(rec, text):
        for entry in text.split():
            match = _MODULE_ENTRY.match(entry.strip("[]"))
            if match is None:
                continue
            rec.modules.append((match.group(1), match.group(2) or ""))

    def _suppression(self, message):
        match = SUPPRESSION_PATTERN.search(message)
        if match is None:
            return
        name = match.group("name").strip().rstrip(":")
        for prefix in ("printk: ", "BUG: "):
            if name.startswith(prefix):
                name = name[len(prefix):]
        count = int(match.group("count"))
        self.suppressed[name] = self.suppressed.get(name, 0) + count
        for key, category in SUPPRESSION_CATEGORIES:
            if key in name:
                self.suppressed_by_category[category] = self.suppressed_by_category.get(category, 0) + count
                break

    # -- output -----------------------------------------------------------
    def _emit_single(self, sig, lineno, when, message, fields):
        finding = {"category": sig.category, "severity": sig.severity, "line": lineno,
                   "message": message[:MAX_MESSAGE_CHARS], "signature": sig.id}
        if when:
            finding["time"] = when
        finding.update(fields)
        if sig.refine:
            REFINERS[sig.refine](finding)
        self._add(finding)

    def _close(self):
        rec = self.record
        if rec is None:
            return
        self.record = None
        finding = {"category": rec.sig.category, "severity": rec.sig.severity, "line": rec.line,
                   "message": rec.message, "signature": rec.sig.id}
        if rec.time:
            finding["time"] = rec.time
        finding.update(rec.fields)
        headlines = []
        for name in rec.headlines:
            if name not in headlines:
                headlines.append(name)
        if len(headlines) > 1:
            finding["signatures"] = headlines
        finding = _FINISH[rec.kind](self, rec, finding)
        if finding is not None:
            self._add(finding)

    def _add(self, finding):
        category = finding["category"]
        severity = finding["severity"]
        self.counts[category] = self.counts.get(category, 0) + 1
        self.severity_counts[severity] = self.severity_counts.get(severity, 0) + 1
        finding.setdefault("arch", self.arch or "unknown")
        for key in INT_FIELDS:
            value = finding.get(key)
            if isinstance(value, str):
                try:
                    finding[key] = int(value)
                except ValueError:
                    pass
        self.kept.add(finding)

    def finish(self, engine="python", lines_known=True):
        self._close()
        highest = highest_severity(self.severity_counts)
        findings = self.kept.findings()
        findings.sort(key=lambda finding: finding["line"])
        summary = {
            "findings": sum(self.counts.values()),
            "findings_returned": len(findings),
            "findings_dropped": self.kept.dropped,
            "dropped_by_category": dict(sorted(self.kept.dropped_by_category.items())),
            "dropped_by_severity": dict(sorted(self.kept.dropped_by_severity.items(),
                                               key=lambda kv: SEVERITY_RANK[kv[0]])),
            "by_category": dict(sorted(self.counts.items())),
            "by_severity": dict(sorted(self.severity_counts.items(), key=lambda kv: SEVERITY_RANK[kv[0]])),
            "highest_severity": highest,
            "suppressed": dict(sorted(self.suppressed.items())),
            "suppressed_by_category": dict(sorted(self.suppressed_by_category.items())),
            "engine": engine,
        }
        if lines_known:
            summary["lines"] = self.lines
        return {"findings": findings, "summary": summary}


# The register line names the architecture: x86 prints RIP (64-bit) or EIP/IP, arm64 "pc : " (or "PC is at").
_ARCH_BY_REGISTER = {"RIP": "x86_64", "EIP": "i386", "IP": "x86", "pc : ": "arm64", "PC is at ": "arm64"}


def _arch_of_oops(rec):
    """The architecture an oops shows, or None when it shows none."""
    register = rec.fields.get("ip_register")
    if register is not None:
        return _ARCH_BY_REGISTER.get(register)
    text = rec.message
    if "Internal error" in text or "virtual address" in text:
        return "arm64"
    if "error_code" in rec.fields:  # only x86 prints the #PF error code
        return "x86_64"
    return None


# -- record finishers: turn assembled fields into category, severity and facts ------------------

def _finish_oops(scanner, rec, finding):
    fields = finding
    pf_code = fields.get("error_code")
    if pf_code is None and rec.sig.oops_code_is_pf and fields.get("oops_code"):
        pf_code = fields["oops_code"]  # pre-5.0 kernels print the #PF error code as the Oops code
    arch = scanner.arch or _arch_of_oops(rec)
    fields.pop("ip_register", None)
    fields["arch"] = arch or "unknown"
    if pf_code is not None and arch != "arm64":
        try:
            code = int(pf_code, 16)
        except ValueError:
            code = None
        if code is not None:
            fields["error_code"] = "0x%04x" % code
            fields["pf_flags"] = [name for bit, name in _PF_BITS if code >> bit & 1]
            if code & 0x8:
                fields["category"] = "pte_corruption"
    if "walk_bad" in fields:
        fields["page_walk_bad"] = True
        fields["category"] = "pte_corruption"
        del fields["walk_bad"]
    if any(SIGNATURE_BY_ID[name].marks_pte for name in rec.headlines):
        fields["category"] = "pte_corruption"
    if fields.get("src_file", "").startswith("mm/page_table_check"):
        fields["category"] = "pte_corruption"
    if fields["category"] == "pte_corruption" and ("oops_code" in fields or "symbol" in fields):
        # the corruption killed a task: it is an oops as well
        fields["also_categories"] = ["kernel_oops"]
    for old, new in (("pid_old", "pid"), ("process_old", "process")):
        if old in fields:
            fields.setdefault(new, fields.pop(old))
    for key in ("cpu", "pid", "oops_count", "refcount", "mapcount", "src_line"):
        if key in fields:
            try:
                fields[key] = int(fields[key])
            except ValueError:
                pass
    if "tainted" in fields:
        fields["taint_flags"] = decode_taint_letters(fields["tainted"])
        if fields["tainted"].startswith("Tainted: "):
            fields["tainted"] = fields["tainted"][len("Tainted: "):]
    if "cr2" in fields:
        fields.setdefault("address", fields["cr2"])  # CR2 holds the faulting address
        fields["cr2"] = _hex(fields["cr2"])
    _code_location(fields)
    if "address" in fields:
        fields["address"] = _hex(fields["address"])
        # addresses are classified for the two layouts known; anything else is far likelier x86_64 than arm64
        where = classify_address(fields["address"], arch if arch == "arm64" else "x86_64")
        if where:
            fields["address_region"] = where.get("region")
            if "poison" in where:
                fields["address_poison"] = where["poison"]
            if "hint" in where:
                fields["hint"] = where["hint"]
    for key in ("pte", "pmd", "pfn", "pgd", "p4d", "pud", "ip"):
        if key in fields:
            fields[key] = _hex(fields[key])
    if rec.frames:
        fields["call_trace"] = ["%s [%s]" % (f["symbol"], f["module"]) if f["module"] else f["symbol"]
                                for f in rec.frames]
        # symbol+offset/size of each reliable frame: what oops_symbolize resolves to file:line
        located = ["%s+0x%s/0x%s%s" % (f["symbol"], f["offset"], f["size"], " [%s]" % f["module"] if f["module"] else "")
                   for f in rec.frames if f["offset"] and f["reliable"]]
        if located:
            fields["call_trace_at"] = located
    else:
        fields.pop("call_trace", None)
    if "module" not in fields:
        for frame in rec.frames:
            if frame["module"] and frame["reliable"]:
                fields["module"] = frame["module"]
                fields["module_from"] = "call_trace"
                break
    elif "module" in fields:
        fields["module_from"] = "rip"
    for key in ("fault_module", "mmap_module"):
        if key in fields and "module" not in fields:
            fields["module"] = fields[key]
            fields["module_from"] = "bad_page_map_" + key.split("_", maxsplit=1)[0]
    if rec.modules:
        fields["modules_linked_count"] = len(rec.modules)
        fields["modules_linked"] = [name for name, _flags in rec.modules[:MAX_LINKED_MODULES]]
        flagged = ["%s(%s)" % (name, flags) for name, flags in rec.modules if flags]
        if flagged:
            fields["tainting_modules"] = flagged[:MAX_LISTED_MODULES]
    if not isinstance(fields.get("modules_linked"), list):
        fields.pop("modules_linked", None)
    fields.pop("end", None)
    if rec.sig.category == "kernel_panic" and "machine check" in fields.get("reason", "").lower():
        fields["machine_check"] = True
    if rec.sig.category == "kernel_panic" and fields.get("reason", "").startswith("Fatal exception"):
        fields["also_categories"] = ["kernel_oops"]  # oops_end() panics with this reason after an oops
    return fields


def _finish_hw(scanner, rec, finding):
    fields = finding
    status = fields.get("mce_status")
    decoded = None
    if status:
        try:
            decoded = decode_mce_status(status, fields.get("ipid"))
        except ValueError:
            decoded = None
    category = None
    severity = "warning"
    if decoded is not None:
        fields["mce_status"] = decoded["status"]
        fields["mce"] = decoded
        category = mce_category(decoded)
        if decoded["severity_class"] == "fatal":
            severity = "critical"
        elif decoded["uncorrected"]:
            severity = "critical" if category == "memory_error_uncorrected" else "error"
    ghes = fields.get("ghes_severity")
    section = fields.get("section_type", "").lower()
    if category is None and (ghes or "hw_corrected" in fields or section):
        corrected = (ghes or "corrected") == "corrected" or "hw_corrected" in fields
        if "pcie" in section:
            category = "pcie_aer"
        elif "processor" in section:
            category = "machine_check_other"
        else:
            category = "memory_error_corrected" if corrected else "memory_error_uncorrected"
        severity = "warning" if corrected else "critical"
    edac = fields.get("edac_kind")
    if edac:
        text = fields.get("edac_text", "")
        for regex in _EDAC_DIMM:
            match = regex.search(text)
            if match is not None:
                fields.setdefault("dimm", match.group("dimm").strip())
                break
        page = _EDAC_PAGE.search(text)
        if page is not None:
            fields.setdefault("page", page.group("page"))
        if category is None or category == "machine_check_other":
            category = "memory_error_corrected" if edac == "CE" else "memory_error_uncorrected"
            severity = "warning" if edac == "CE" else "critical"
    amd = fields.get("amd_severity", "")
    if category is None and amd:
        category = "machine_check_other"
        severity = "warning" if amd.startswith(("Corrected", "Deferred")) else "critical"
    if "fru" in fields and "dimm" not in fields:
        fields["dimm"] = fields["fru"]
    for key in ("cpu", "bank", "error_count", "mc"):
        if key in fields:
            try:
                fields[key] = int(fields[key])
            except ValueError:
                pass
    if "address" in fields:
        fields["address"] = _hex(fields["address"])
        fields["address_space"] = "physical"
    fields.pop("hw_text", None)
    fields.pop("hw_corrected", None)
    if category is None:
        # Only "Machine check events logged": the details went to mcelog/rasdaemon.
        last = scanner._last_hw
        if last is not None:
            last["repeats"] = last.get("repeats", 0) + 1
            return None
        category = "machine_check_other"
        fields["note"] = "machine check logged without decoded details; read mcelog/rasdaemon records"
    fields["category"] = category
    fields["severity"] = severity
    scanner._last_hw = fields
    return fields


def _finish_scsi(scanner, rec, finding):
    sense = finding.get("sense_key", "")
    if sense == "Medium Error":
        finding["error_class"] = "media"
    elif sense == "Hardware Error":
        finding["error_class"] = "hardware"
    elif sense in ("Aborted Command", "Not Ready", "Unit Attention"):
        finding["error_class"] = "transport"
    elif "DID_" in finding.get("result", "") and "DID_OK" not in finding.get("result", ""):
        finding["error_class"] = "transport"
    return finding


def _finish_ata(scanner, rec, finding):
    if finding.get("device", "").startswith("ata"):
        finding["ata_port"] = finding["device"].split(".")[0]
    errors = finding.get("ata_error", "")
    if "UNC" in errors.split() or "AMNF" in errors.split():
        finding["error_class"] = "media"
    elif "ICRC" in errors.split() or "link_reset" in finding or finding.get("serror"):
        finding["error_class"] = "link"
    elif "ABRT" in errors.split():
        finding["error_class"] = "device"
    if rec.sig.warning_without and finding.get(rec.sig.warning_without) is None:
        finding["severity"] = "warning"
    finding.pop("link_reset", None)
    finding.pop("frozen", None)
    return finding


def _finish_aer(scanner, rec, finding):
    level = finding.get("aer_severity", "")
    if "Fatal" in level and "Non-Fatal" not in level:
        finding["severity"] = "critical"
    elif "Uncorrected" in level or "Non-Fatal" in level:
        finding["severity"] = "error"
    elif level:
        finding["severity"] = "warning"
    else:
        return None  # "AER: enabled with IRQ ..." and friends are not errors
    if "device" not in finding and finding.get("devices"):
        finding["device"] = finding["devices"][0]
    return finding


_FINISH = {"oops": _finish_oops, "hw": _finish_hw, "scsi": _finish_scsi, "ata": _finish_ata, "aer": _finish_aer}


# -- single-line refinements ---------------------------------------------------------------------

def _refine_block(finding):
    kind = finding.get("error_kind", "").strip().lower()
    for prefix in ("blk_update_request: ", "print_req_error: ", "end_request: ", "blk_print_req_error: "):
        if kind.startswith(prefix.strip()):
            kind = kind.split(":", 1)[1].strip()
    finding["error_kind"] = kind
    classes = (("medium", "media"), ("target", "target"), ("transport", "transport"), ("nexus", "transport"),
               ("timeout", "timeout"), ("protection", "integrity"), ("space", "space"))
    finding["error_class"] = next((c for key, c in classes if key in kind), "io")
    finding["sector"] = int(finding["sector"])


def _refine_buffer(finding):
    finding["block"] = int(finding["block"])


def _refine_memory_failure(finding):
    text = finding.get("mf_text", "")
    finding["pfn"] = _hex(finding.get("pfn"))
    for result in ("Recovered", "Delayed", "Ignored", "Failed"):
        if text.rstrip(".").endswith(result):
            finding["result"] = result.lower()
            if result in ("Ignored", "Failed"):
                finding["severity"] = "critical"
    if "already hardware poisoned" in text:
        finding["severity"] = "warning"
        finding["result"] = "already_poisoned"
    match = re.search(r"recovery action for (?P<page_type>.+?): ", text)
    if match is not None:
        finding["page_type"] = match.group("page_type")


_CODE_LOCATION = re.compile(r"\b(?P<symbol>[A-Za-z_][\w.$]*)\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[(?P<module>[\w-]+)\])?")


def _code_location(finding):
    """Symbol and module of a %pS location printed in the message (XFS, WARN), when none is known yet."""
    if "symbol" in finding:
        return
    match = _CODE_LOCATION.search(finding.get("function") or finding.get("message", ""))
    if match is not None:
        finding["symbol"] = match.group("symbol")
        if match.group("module"):
            finding.setdefault("module", match.group("module"))


def _refine_fs(finding):
    _code_location(finding)
    if "sector" in finding:
        finding["sector"] = int(finding["sector"])


def _refine_xfs_io(finding):
    _code_location(finding)
    errno = int(finding.get("errno", 0))
    finding["error_class"] = "corruption" if errno in (74, 117) else "io"


def _refine_nvme(finding):
    finding["sector"] = int(finding["sector"])
    finding["error_class"] = "media" if finding.get("sct") == "2" else "command"


def _refine_pfn(finding):
    if finding.get("pfn"):
        finding["pfn"] = _hex(finding["pfn"])
    if finding.get("address"):
        finding["address"] = _hex(finding["address"])


def _refine_pid(finding):
    _refine_pfn(finding)
    if "pid" in finding:
        finding["pid"] = int(finding["pid"])


# Signatures name their refiner in the catalogue (signatures.py, key "refine").
REFINERS = {
    "block": _refine_block,
    "buffer": _refine_buffer,
    "memory_failure": _refine_memory_failure,
    "pid": _refine_pid,
    "pfn": _refine_pfn,
    "xfs_io": _refine_xfs_io,
    "nvme": _refine_nvme,
    "fs": _refine_fs,
}

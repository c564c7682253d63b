# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The signature catalogue: what real kernels print, as data.

Each headline signature names its category, default severity, a literal
anchor (the prefilter: grep -F on the target and a substring test in Python
look for anchors only), the pattern whose named groups become finding
fields, the kind of multi-line record it opens, and the kernel source that
prints it. Continuation patterns (lines inside a record) follow the same
idea. Source references are to Linux 6.1 unless an era is named.
"""

from __future__ import annotations

import re

CATEGORIES = (
    "pte_corruption",
    "bad_page_state",
    "kernel_oops",
    "kernel_panic",
    "memory_error_corrected",
    "memory_error_uncorrected",
    "machine_check_other",
    "memory_page_offlined",
    "block_io_error",
    "storage_device_error",
    "filesystem_error",
    "pcie_aer",
    "system_freeze",
    "unexpected_reboot",
)

SEVERITIES = ("info", "warning", "error", "critical")
SEVERITY_RANK = dict((name, rank) for rank, name in enumerate(SEVERITIES))


def highest_severity(severities):
    """The most severe of some severity names; None for none."""
    best = None
    for severity in severities:
        if best is None or SEVERITY_RANK[severity] > SEVERITY_RANK[best]:
            best = severity
    return best


def at_or_above(severity, threshold):
    """Whether a severity (None: no finding) reaches a threshold name; the threshold "never" is never reached."""
    return severity is not None and threshold != "never" and SEVERITY_RANK[severity] >= SEVERITY_RANK[threshold]


# How specific a category is about the cause, for keeping the telling findings when a log has too many: corrupted
# page tables and uncorrected memory point at one culprit, a lone AER line hardly does.
CATEGORY_RANK = {
    "pte_corruption": 9, "memory_error_uncorrected": 8, "bad_page_state": 7, "kernel_panic": 6, "kernel_oops": 5,
    "memory_page_offlined": 4, "memory_error_corrected": 3, "machine_check_other": 3, "block_io_error": 2,
    "storage_device_error": 2, "filesystem_error": 2, "system_freeze": 2, "unexpected_reboot": 2,
    "pcie_aer": 1,
}

# Facts that are counts or numbers whatever line printed them: findings carry them as integers.
INT_FIELDS = ("sector", "block", "pid", "cpu", "bank", "mc", "error_count", "oops_count", "refcount", "mapcount",
              "src_line", "repeats", "seconds", "stall_cpu")

# What the diagnosis reads into a signature beyond its category (diagnosis.py).
ROLES = {
    "software_hint": "a software fault pattern (list/slab poison, NULL dereference): points away from hardware",
    "mm_accounting": "memory accounting left over after corruption: not page corruption evidence on its own",
    "injected": "printed by a fault injector (hwpoison-inject, madvise): not evidence of failing hardware",
    "controller": "a controller or device went away, reset or timed out: link or controller, not media",
}

# Records: "oops" absorbs #PF/walk/Oops/CPU/RIP/modules/call trace lines;
# "hw" absorbs machine-check and GHES lines; "scsi"/"ata"/"aer" absorb their
# device's detail lines. A headline marked join=True continues an open
# record of the same kind instead of starting a new one.
_HEADLINES = (
    # --- page tables -------------------------------------------------------
    dict(id="bad_page_map", category="pte_corruption", severity="critical",
         anchor="Bad page map in process",
         pattern=r"Bad page map in process (?P<process>.+?)\s+pte:(?P<pte>[0-9a-f]+) pmd:(?P<pmd>[0-9a-f]+)",
         record="oops", source="mm/memory.c print_bad_pte"),
    dict(id="bad_page_table_entry", category="pte_corruption", severity="critical",
         anchor=": bad p",
         pattern=r"(?P<src_file>[\w/.-]+\.[ch]):(?P<src_line>\d+): bad (?P<level>pte|pmd|pud|p4d|pgd) "
                 r"(?:\(?(?:0x)?[0-9a-f]+\)?\()?(?P<entry>[0-9a-f]+)\)?",
         record="oops", source="arch/x86/include/asm/pgtable_64.h pte_ERROR via mm/pgtable-generic.c pmd_clear_bad"),
    dict(id="corrupted_page_table", category="pte_corruption", severity="critical",
         anchor="Corrupted page table at address",
         pattern=r"(?:(?P<process>\S+): )?Corrupted page table at address (?P<address>[0-9a-fx]+)",
         record="oops", oops_code_is_pf=True, source="arch/x86/mm/fault.c pgtable_bad"),
    dict(id="bad_pagetable_oops", category="pte_corruption", severity="critical",
         anchor="Bad pagetable:",
         pattern=r"Bad pagetable: (?P<oops_code>[0-9a-f]+) \[#(?P<oops_count>\d+)\]",
         record="oops", join=True, marks_pte=True, source="arch/x86/mm/fault.c pgtable_bad"),
    dict(id="bad_rss_counter", category="pte_corruption", severity="error",
         anchor="Bad rss-counter state",
         pattern=r"Bad rss-counter state mm:(?P<mm>\S+) (?:type:(?P<rss_type>\S+)|idx:(?P<rss_idx>\d+)) val:(?P<value>-?\d+)",
         roles=("mm_accounting",),
         source="kernel/fork.c check_mm"),
    dict(id="nonzero_pgtables_bytes", category="pte_corruption", severity="error",
         anchor="non-zero pgtables_bytes",
         pattern=r"non-zero pgtables_bytes on freeing mm: (?P<value>-?\d+)",
         roles=("mm_accounting",),
         source="kernel/fork.c check_mm"),
    dict(id="bad_swap_entry", category="pte_corruption", severity="error",
         anchor=("Bad swap", "Unused swap"),
         pattern=r"(?P<function>\w+): (?P<swap_problem>Bad swap file entry|Bad swap offset entry|Unused swap offset entry|"
                 r"Unused swap file entry|Bad swap entry) (?P<entry>[0-9a-f]+)",
         source="mm/swapfile.c _swap_info_get / get_swap_device"),
    # --- struct page -------------------------------------------------------
    dict(id="bad_page_state", category="bad_page_state", severity="critical",
         anchor="Bad page state in process",
         pattern=r"Bad page state in process (?P<process>.+?)\s+pfn:(?P<pfn>[0-9a-f]+)",
         record="oops", source="mm/page_alloc.c bad_page"),
    # --- oopses ------------------------------------------------------------
    dict(id="page_fault_oops", category="kernel_oops", severity="critical",
         anchor="unable to handle page fault for address",
         pattern=r"unable to handle page fault for address: (?P<address>[0-9a-fx]+)",
         record="oops", oops_code_is_pf=True, source="arch/x86/mm/fault.c show_fault_oops (>= 5.0)"),
    dict(id="null_pointer_oops", category="kernel_oops", severity="critical",
         anchor="NULL pointer dereference, address",
         pattern=r"NULL pointer dereference, address: (?P<address>[0-9a-fx]+)",
         record="oops", oops_code_is_pf=True, roles=("software_hint",),
         source="arch/x86/mm/fault.c show_fault_oops (>= 5.0)"),
    dict(id="paging_request_oops", category="kernel_oops", severity="critical",
         anchor="nable to handle kernel",
         pattern=r"[Uu]nable to handle kernel (?P<fault>.+?) at (?:virtual address )?(?P<address>(?:0x)?[0-9a-f]+)",
         record="oops", oops_code_is_pf=True,
         source="x86 <= 4.19 arch/x86/mm/fault.c; arm64 arch/arm64/mm/fault.c die_kernel_fault"),
    dict(id="general_protection_fault", category="kernel_oops", severity="critical",
         anchor="general protection fault",
         pattern=r"general protection fault(?:, (?:probably for non-canonical address|maybe for address) "
                 r"(?P<address>0x[0-9a-f]+))?(?::? (?P<oops_code>[0-9a-f]{4}) \[#(?P<oops_count>\d+)\])?",
         record="oops", source="arch/x86/kernel/traps.c exc_general_protection"),
    dict(id="kernel_bug", category="kernel_oops", severity="critical",
         anchor="kernel BUG at",
         pattern=r"kernel BUG at (?P<src_file>[^:\s]+):(?P<src_line>\d+)!",
         record="oops", join=True, source="lib/bug.c report_bug"),
    dict(id="list_corruption", category="kernel_oops", severity="critical",
         anchor=("list_add corruption", "list_del corruption", "list_add_valid", "list_del_entry_valid"),
         pattern=r"(?P<list_op>list_add|list_del|__list_add_valid|__list_del_entry_valid\w*)(?:_or_report)?"
                 r"(?: corruption|: corruption)",
         record="oops", roles=("software_hint",), source="lib/list_debug.c"),
    dict(id="slub_corruption", category="kernel_oops", severity="critical",
         anchor=" overwritten",
         pattern=r"BUG (?P<cache>\S+) \(.*\): (?P<slab_problem>Poison overwritten|Redzone overwritten|"
                 r"Object padding overwritten|Left Redzone overwritten|Right Redzone overwritten)",
         record="oops", roles=("software_hint",), source="mm/slub.c check_bytes_and_report"),
    dict(id="slub_freepointer", category="kernel_oops", severity="critical",
         anchor="Freepointer corrupt",
         pattern=r"BUG (?P<cache>\S+) \(.*\): (?P<slab_problem>Freepointer corrupt)",
         record="oops", roles=("software_hint",), source="mm/slub.c check_object"),
    dict(id="oops_line", category="kernel_oops", severity="critical",
         anchor="Oops: ",
         pattern=r"(?:Internal error: )?Oops(?: - \w+)?: (?P<oops_code>[0-9a-fx]+) \[#(?P<oops_count>\d+)\]",
         record="oops", join=True, source="arch/x86/kernel/dumpstack.c __die; arm64 arch/arm64/kernel/traps.c die"),
    dict(id="kernel_panic", category="kernel_panic", severity="critical",
         anchor="Kernel panic - not syncing",
         pattern=r"^(?!---\[ end )(?:.*?)Kernel panic - not syncing: ?(?P<reason>.*?)\s*$",
         record="oops", source="kernel/panic.c panic"),
    # --- freezes: the watchdogs that see a task or a CPU stop making progress ---------------
    # They open an "oops" record: the CPU/PID/Comm, RIP, call-trace and module lines that follow are the same.
    dict(id="hung_task", category="system_freeze", severity="error",
         anchor="blocked for more than",
         pattern=r"INFO: task (?P<process>.+):(?P<pid>\d+) blocked for more than (?P<seconds>\d+) seconds",
         record="oops", source="kernel/hung_task.c check_hung_task"),
    dict(id="soft_lockup", category="system_freeze", severity="error",
         anchor="soft lockup",
         pattern=r"BUG: soft lockup - CPU#(?P<cpu>\d+) stuck for (?P<seconds>\d+)s! ?(?:\[(?P<process>.+):(?P<pid>\d+)\])?",
         record="oops", source="kernel/watchdog.c watchdog_timer_fn"),
    dict(id="hard_lockup", category="system_freeze", severity="critical",
         anchor=("hard LOCKUP", "Hard LOCKUP"),
         pattern=r"Watchdog (?:detected hard LOCKUP on cpu |CPU:)(?P<cpu>\d+)",
         record="oops", join=True,
         source="kernel/watchdog_hld.c watchdog_overflow_callback (x86 NMI watchdog); "
                "arch/powerpc/kernel/watchdog.c watchdog_smp_panic"),
    dict(id="rcu_stall", category="system_freeze", severity="error",
         anchor=("stall on CPU", "detected stalls on CPU"),
         pattern=r"INFO: (?P<rcu_flavor>rcu_\w+?)(?:_state)? (?P<rcu_stall>self-detected stall|detected stalls?) "
                 r"on CPU(?:s/tasks)?:?(?: (?P<cpu>\d+))?",
         record="oops", source="kernel/rcu/tree_stall.h print_cpu_stall / print_other_cpu_stall"),
    # --- machine checks, EDAC, GHES -----------------------------------------
    dict(id="machine_check_event", category="machine_check_other", severity="warning",
         anchor="Machine Check",
         pattern=r"CPU:? ?(?P<cpu>\d+):? Machine Check(?: Exception| Event)?: (?P<mcgstatus>[0-9a-f]+) "
                 r"Bank (?P<bank>\d+): (?P<mce_status>[0-9a-f]+)",
         record="hw", join=True, source="arch/x86/kernel/cpu/mce/core.c print_mce; drivers/edac/sb_edac.c"),
    dict(id="hardware_error", category="machine_check_other", severity="warning",
         anchor="[Hardware Error]",
         pattern=r"\[Hardware Error\]: ?(?P<hw_text>.*)",
         record="hw", join=True, source="arch/x86/kernel/cpu/mce/core.c print_mce; drivers/firmware/efi/cper.c; "
                                        "drivers/edac/mce_amd.c"),
    dict(id="edac_mce_handling", category="machine_check_other", severity="warning",
         anchor="HANDLING MCE MEMORY ERROR",
         pattern=r"HANDLING MCE MEMORY ERROR",
         record="hw", join=True, source="drivers/edac/sb_edac.c sbridge_mce_output_error"),
    dict(id="edac_error", category="memory_error_corrected", severity="warning",
         anchor="EDAC ",
         pattern=r"EDAC (?:\S+ )?MC(?P<mc>\d+): (?:(?P<error_count>\d+) )?(?P<edac_kind>CE|UE)\b ?(?P<edac_text>.*)",
         record="hw", join=True, source="drivers/edac/edac_mc.c edac_mc_handle_error"),
    dict(id="mce_memory_user_access", category="memory_error_uncorrected", severity="critical",
         anchor="hardware memory error",
         pattern=r"Uncorrected hardware memory error in (?P<context>[\w-]+) at (?P<address>[0-9a-fx]+)",
         refine="pfn",
         source="arch/x86/kernel/cpu/mce/core.c kill_me_maybe"),
    dict(id="mce_not_recovered", category="memory_error_uncorrected", severity="critical",
         anchor="Memory error not recovered",
         pattern=r"Memory error not recovered",
         source="arch/x86/kernel/cpu/mce/core.c kill_me_now"),
    # --- memory failure / offlining ------------------------------------------
    dict(id="memory_failure", category="memory_page_offlined", severity="error",
         anchor="Memory failure: ",
         pattern=r"Memory failure: (?P<pfn>0x[0-9a-f]+): (?P<mf_text>.*)",
         refine="memory_failure",
         source="mm/memory-failure.c action_result"),
    dict(id="memory_failure_old", category="memory_page_offlined", severity="error",
         anchor="MCE 0x",
         pattern=r"^MCE (?P<pfn>0x[0-9a-f]+): (?P<mf_text>.*)",
         refine="memory_failure",
         source="mm/memory-failure.c (<= 4.x)"),
    dict(id="memory_failure_kill", category="memory_page_offlined", severity="error",
         anchor="due to hardware memory corruption",
         pattern=r"(?:Sending SIGBUS to|Killing) (?P<process>.+?):(?P<pid>\d+) due to hardware memory corruption"
                 r"(?: fault at (?P<address>[0-9a-f]+))?",
         refine="pid",
         source="mm/memory-failure.c kill_proc"),
    dict(id="memory_failure_injected", category="memory_page_offlined", severity="warning",
         anchor="Injecting memory failure",
         pattern=r"Injecting memory failure (?:for pfn|for page|at pfn) (?P<pfn>0x[0-9a-f]+)(?: at (?P<address>0x[0-9a-f]+))?",
         refine="pfn", roles=("injected",),
         source="mm/madvise.c madvise_inject_error"),
    dict(id="soft_offline", category="memory_page_offlined", severity="warning",
         anchor="oft offlin",
         pattern=r"[Ss]oft offlin\w*:? (?:pfn:? ?)?(?P<pfn>0x[0-9a-f]+)?:? ?(?P<mf_text>.*)",
         refine="pfn",
         source="mm/memory-failure.c soft_offline_page"),
    dict(id="ras_cec_offline", category="memory_page_offlined", severity="warning",
         anchor="Soft-offlining pfn",
         pattern=r"Soft-offlining pfn: (?P<pfn>0x[0-9a-f]+)",
         refine="pfn",
         source="drivers/ras/cec.c cec_add_elem"),
    # --- block layer -------------------------------------------------------
    dict(id="block_request_error", category="block_io_error", severity="error",
         anchor=" error, dev ",
         pattern=r"(?P<error_kind>[\w /]+?) error, dev (?P<device>[^,\s]+), sector (?P<sector>\d+)"
                 r"(?: op 0x(?P<op_code>[0-9a-f]+):\((?P<op>\w+)\))?",
         refine="block",
         source="block/blk-mq.c blk_print_req_error (6.x); blk_update_request (5.x); print_req_error (4.14-4.20); "
                "end_request (<= 3.x)"),
    dict(id="buffer_io_error", category="block_io_error", severity="error",
         anchor="Buffer I/O error on dev",
         pattern=r"Buffer I/O error on dev(?:ice)? (?P<device>[^,\s]+),? logical block (?P<block>\d+)(?:, (?P<detail>.+))?",
         refine="buffer",
         source="fs/buffer.c buffer_io_error; fs/ext4/page-io.c"),
    # --- SCSI / ATA / NVMe -------------------------------------------------
    dict(id="scsi_failed", category="storage_device_error", severity="error",
         anchor="FAILED Result:",
         pattern=r"(?:sd \S+: )?\[(?P<device>\w+)\] (?:tag#\d+ )?FAILED Result: (?P<result>.*)",
         record="scsi", join=True, source="drivers/scsi/scsi_logging.c scsi_print_result"),
    dict(id="scsi_sense", category="storage_device_error", severity="error",
         anchor="Sense Key",
         pattern=r"(?:\[(?P<device>\w+)\] )?(?:tag#\d+ )?Sense Key ?: ?(?P<sense_key>[\w ]+?)\s*(?:\[\w+\])?\s*$",
         record="scsi", join=True, source="drivers/scsi/constants.c scsi_print_sense_hdr"),
    dict(id="scsi_offline", category="storage_device_error", severity="error",
         anchor="offline device",
         pattern=r"(?:\[(?P<device>\w+)\] )?rejecting I/O to offline device",
         roles=("controller",),
         source="drivers/scsi/scsi_lib.c scsi_device_state_check"),
    dict(id="scsi_device_offlined", category="storage_device_error", severity="error",
         anchor="Device offlined",
         pattern=r"Device offlined - not ready after error recovery",
         roles=("controller",),
         source="drivers/scsi/scsi_error.c scsi_eh_offline_sdevs"),
    dict(id="ata_exception", category="storage_device_error", severity="error",
         anchor="exception Emask",
         pattern=r"(?P<device>ata\d+(?:\.\d+)?): exception Emask 0x(?P<emask>[0-9a-f]+) SAct 0x(?P<sact>[0-9a-f]+) "
                 r"SErr 0x(?P<serr>[0-9a-f]+) action 0x(?P<action>[0-9a-f]+)(?P<frozen> frozen)?",
         record="ata", join=True, source="drivers/ata/libata-eh.c ata_eh_link_report"),
    dict(id="ata_error_detail", category="storage_device_error", severity="error",
         anchor="error: { ",
         pattern=r"(?P<device>ata\d+(?:\.\d+)?): error: \{ (?P<ata_error>[A-Z ]+?) \}",
         record="ata", join=True, source="drivers/ata/libata-eh.c ata_eh_link_report"),
    dict(id="ata_link_reset", category="storage_device_error", severity="warning",
         anchor="hard resetting link",
         pattern=r"(?P<device>ata\d+(?:\.\d+)?): hard resetting link",
         record="ata", join=True, warning_without="emask", source="drivers/ata/libata-eh.c ata_eh_reset"),
    dict(id="ata_link_failure", category="storage_device_error", severity="error",
         anchor="COMRESET failed",
         pattern=r"(?P<device>ata\d+(?:\.\d+)?): COMRESET failed \(errno=(?P<errno>-?\d+)\)",
         source="drivers/ata/libata-sata.c sata_link_hardreset"),
    dict(id="nvme_timeout", category="storage_device_error", severity="error",
         anchor=" QID ",
         pattern=r"(?P<device>nvme\d+): I/O (?:tag )?(?P<tag>\d+) (?:\(\w+\) )?QID (?P<qid>\d+) timeout, (?P<action>.+)",
         roles=("controller",),
         source="drivers/nvme/host/pci.c nvme_timeout"),
    dict(id="nvme_controller_down", category="storage_device_error", severity="critical",
         anchor="controller is down",
         pattern=r"(?P<device>nvme\d+): controller is down; will reset: CSTS=(?P<csts>0x[0-9a-f]+)",
         roles=("controller",),
         source="drivers/nvme/host/pci.c nvme_timeout"),
    dict(id="nvme_removed", category="storage_device_error", severity="critical",
         anchor="Removing after probe failure",
         pattern=r"(?P<device>nvme\d+): Removing after probe failure status: (?P<status>-?\d+)",
         roles=("controller",),
         source="drivers/nvme/host/pci.c nvme_remove_dead_ctrl"),
    dict(id="disk_vanished", category="storage_device_error", severity="error",
         anchor="detected capacity change",
         pattern=r"(?P<device>[\w-]+): detected capacity change from (?P<old_size>\d+) to 0\s*$",
         roles=("controller",),
         source="block/genhd.c set_capacity_and_notify"),
    dict(id="nvme_io_error", category="storage_device_error", severity="error",
         anchor="@ LBA",
         pattern=r"(?P<device>nvme\d+n\d+): (?:I/O Cmd)?(?P<op>\w*)\(0x[0-9a-f]+\) @ LBA (?P<sector>\d+), (?P<blocks>\d+) blocks?, "
                 r"(?P<nvme_status>.+?) \(sct 0x(?P<sct>[0-9a-f]+) / sc 0x(?P<sc>[0-9a-f]+)\)",
         refine="nvme",
         source="drivers/nvme/host/core.c nvme_log_error (>= 5.19)"),
    # --- filesystems -------------------------------------------------------
    dict(id="extfs_error", category="filesystem_error", severity="error",
         anchor="-fs error",
         pattern=r"(?P<filesystem>EXT[234])-fs error \(device (?P<device>[^)]+)\)(?:(?: in)?:? (?P<function>\w+)(?::(?P<src_line>\d+))?)?"
                 r"(?:.*?\bcomm (?P<process>.+?): )?",
         source="fs/ext4/super.c __ext4_error"),
    dict(id="extfs_remount_ro", category="filesystem_error", severity="error",
         anchor="Remounting filesystem read-only",
         pattern=r"(?P<filesystem>EXT[234])-fs \((?P<device>[^)]+)\): Remounting filesystem read-only",
         source="fs/ext4/super.c ext4_handle_error"),
    dict(id="extfs_io_error", category="filesystem_error", severity="error",
         anchor="I/O error while writing superblock",
         pattern=r"(?P<filesystem>EXT[234])-fs \((?P<device>[^)]+)\): I/O error while writing superblock",
         source="fs/ext4/super.c ext4_commit_super"),
    dict(id="jbd2_abort", category="filesystem_error", severity="error",
         anchor="Aborting journal on device",
         pattern=r"Aborting journal on device (?P<device>[^\s.]+(?:\.\d+)?)",
         source="fs/jbd2/journal.c __journal_abort_soft"),
    dict(id="jbd2_io_error", category="filesystem_error", severity="error",
         anchor="JBD2: ",
         pattern=r"JBD2: (?:Error (?P<errno>-?\d+) detected when updating journal superblock for|"
                 r"Detected IO errors while flushing file data on|I/O error when updating journal superblock for) "
                 r"(?P<device>[^\s.]+(?:\.\d+)?)",
         source="fs/jbd2/journal.c"),
    dict(id="xfs_metadata_io", category="filesystem_error", severity="error",
         anchor="metadata I/O error",
         pattern=r"XFS \((?P<device>[^)]+)\): metadata I/O error(?: in \"(?P<function>[^\"]+)\")? at daddr "
                 r"0x(?P<daddr>[0-9a-f]+) len (?P<len>\d+) error (?P<errno>\d+)",
         refine="xfs_io",
         source="fs/xfs/xfs_buf_item.c xfs_buf_ioerror_alert"),
    dict(id="xfs_corruption", category="filesystem_error", severity="error",
         anchor=("orruption detected", "Corruption of in-memory data", "CRC error detected"),
         pattern=r"XFS \((?P<device>[^)]+)\): (?P<fs_problem>Metadata corruption detected|Corruption detected|"
                 r"Corruption of in-memory data detected|Metadata CRC error detected)",
         refine="fs",
         source="fs/xfs/xfs_error.c xfs_corruption_error; fs/xfs/xfs_fsops.c xfs_do_force_shutdown"),
    dict(id="xfs_writeback", category="filesystem_error", severity="error",
         anchor="writeback error on sector",
         pattern=r"XFS \((?P<device>[^)]+)\): writeback error on sector (?P<sector>\d+)",
         refine="fs",
         source="fs/xfs/xfs_aops.c xfs_end_ioend (>= 5.x)"),
    dict(id="xfs_internal_error", category="filesystem_error", severity="error",
         anchor="Internal error",
         pattern=r"XFS \((?P<device>[^)]+)\): Internal error (?P<fs_problem>.+?) at line (?P<src_line>\d+) of file "
                 r"(?P<src_file>\S+)",
         record="oops", source="fs/xfs/xfs_error.c xfs_error_report"),
    dict(id="xfs_log_io", category="filesystem_error", severity="error",
         anchor="Log I/O Error",
         pattern=r"XFS \((?P<device>[^)]+)\): Log I/O Error",
         source="fs/xfs/xfs_log.c"),
    dict(id="btrfs_dev_stats", category="filesystem_error", severity="error",
         anchor="errs: wr",
         pattern=r"BTRFS \w+ \(device (?P<device>[^)]+)\).*?bdev (?P<bdev>\S+) errs: wr (?P<wr>\d+), rd (?P<rd>\d+), "
                 r"flush (?P<flush>\d+), corrupt (?P<corrupt>\d+), gen (?P<gen>\d+)",
         source="fs/btrfs/volumes.c btrfs_dev_stat_print_on_error"),
    dict(id="btrfs_csum", category="filesystem_error", severity="error",
         anchor="csum failed",
         pattern=r"BTRFS \w+ \(device (?P<device>[^)]+)\).*?csum failed",
         source="fs/btrfs/inode.c / disk-io.c"),
    # --- PCIe AER ------------------------------------------------------------
    dict(id="aer_received", category="pcie_aer", severity="warning",
         anchor="AER: ",
         pattern=r"AER: (?P<aer_severity>Corrected|Uncorrected \((?:Non-Fatal|Fatal)\)|Multiple Corrected|"
                 r"Multiple Uncorrected \((?:Non-Fatal|Fatal)\)) error(?: message)? received(?: from|:)(?: id=)?"
                 r" ?(?P<device>[0-9a-fA-F:.]+)",
         record="aer", join=True, source="drivers/pci/pcie/aer.c aer_isr_one_error"),
    dict(id="aer_bus_error", category="pcie_aer", severity="warning",
         anchor="PCIe Bus Error",
         pattern=r"PCIe Bus Error: severity=(?P<aer_severity>[\w (-]+?\)?), type=(?P<aer_type>[\w ]+)",
         record="aer", join=True, source="drivers/pci/pcie/aer.c aer_print_error"),
)

# Rate limiting: counted, never findings of their own.
SUPPRESSION_ANCHORS = ("callbacks suppressed", "messages suppressed")
SUPPRESSION_PATTERN = re.compile(
    r"(?P<name>[\w .:/-]+?):? (?P<count>\d+) (?:callbacks|messages) suppressed"
)
# Which suppressed printk belongs to which category.
SUPPRESSION_CATEGORIES = (
    ("Bad page map", "pte_corruption"),
    ("Bad page state", "bad_page_state"),
    ("blk_update_request", "block_io_error"),
    ("print_req_error", "block_io_error"),
    ("blk_print_req_error", "block_io_error"),
    ("buffer_io_error", "block_io_error"),
    ("Buffer I/O error", "block_io_error"),
    ("end_request", "block_io_error"),
    ("EXT4-fs", "filesystem_error"),
    ("mce", "machine_check_other"),
    ("memory_failure", "memory_page_offlined"),
    ("aer", "pcie_aer"),
)


class Signature(object):
    """One headline signature, compiled.

    Besides what it matches, an entry carries how it behaves, so that adding a message is one edit here:
    - refine: the name of the single-line refiner that turns its fields into facts (kernel_log.REFINERS);
    - oops_code_is_pf: pre-5.0 kernels print the x86 #PF error code as this oops's code;
    - marks_pte: a record that contains this headline is page-table corruption;
    - warning_without: the finding is only a warning when this field is absent (a link reset with no error mask);
    - roles: what the diagnosis reads into it (ROLES).
    """

    __slots__ = ("id", "category", "severity", "anchors", "pattern", "_regex", "record", "join", "source", "refine",
                 "oops_code_is_pf", "marks_pte", "warning_without", "roles")

    def __init__(self, entry):
        self.id = entry["id"]
        self.category = entry["category"]
        self.severity = entry["severity"]
        anchor = entry["anchor"]
        self.anchors = (anchor,) if isinstance(anchor, str) else tuple(anchor)
        self.pattern = entry["pattern"]
        self._regex = None
        self.record = entry.get("record")
        self.join = entry.get("join", False)
        self.source = entry["source"]
        self.refine = entry.get("refine")
        self.oops_code_is_pf = entry.get("oops_code_is_pf", False)
        self.marks_pte = entry.get("marks_pte", False)
        self.warning_without = entry.get("warning_without")
        self.roles = tuple(entry.get("roles", ()))
        unknown = set(self.roles) - set(ROLES)
        if unknown or self.category not in CATEGORIES or self.severity not in SEVERITY_RANK:
            raise ValueError("signature %s: bad category, severity or roles %s" % (self.id, sorted(unknown)))

    @property
    def regex(self):
        # compiled on first use: on a clean host the prefilter passes no line, and every host of a fleet run imports
        # this catalogue (compiling it all is a measurable share of one host's round trip)
        if self._regex is None:
            self._regex = re.compile(self.pattern)
        return self._regex

    def as_dict(self):
        entry = {
            "id": self.id,
            "category": self.category,
            "severity": self.severity,
            "anchors": list(self.anchors),
            "pattern": self.regex.pattern,
            "fields": sorted(self.regex.groupindex),
            "record": self.record,
            "source": self.source,
        }
        for key in ("refine", "oops_code_is_pf", "marks_pte", "warning_without"):
            if getattr(self, key):
                entry[key] = getattr(self, key)
        if self.roles:
            entry["roles"] = list(self.roles)
        return entry


SIGNATURES = tuple(Signature(entry) for entry in _HEADLINES)
SIGNATURE_BY_ID = dict((sig.id, sig) for sig in SIGNATURES)

# The prefilter: every literal that can start or join a finding.
ANCHORS = tuple(sorted(set([a for sig in SIGNATURES for a in sig.anchors] + list(SUPPRESSION_ANCHORS))))

# Continuation lines inside a record, by record kind: (regex, fields it yields).
CONTINUATIONS = {
    "oops": tuple(re.compile(p) for p in (
        r"#PF: (?P<access>supervisor|user) (?P<access_type>read|write|instruction fetch|shadow stack \w+) access in "
        r"(?P<access_mode>kernel|user) mode",
        r"#PF: error_code\(0x(?P<error_code>[0-9a-f]+)\)(?: - (?P<pf_reason>.+))?",
        r"^PGD (?P<pgd>[0-9a-f]+)(?: P4D (?P<p4d>[0-9a-f]+))?(?: PUD (?P<pud>[0-9a-f]+))?(?: PMD (?P<pmd>[0-9a-f]+))?"
        r"(?: PTE (?P<pte>[0-9a-f]+))?(?P<walk_bad> BAD)?",
        r"^(?P<walk_bad>BAD)\s*$",
        r"^(?:CPU: (?P<cpu>\d+) (?:UID: \d+ )?PID: (?P<pid>\d+) Comm: (?P<process>.+?)|"
        r"Pid: (?P<pid_old>\d+), comm: (?P<process_old>\S+)) +(?P<tainted>Not tainted|Tainted: [A-Z ]*[A-Z])",
        r"^(?P<ip_register>RIP|IP|EIP): (?:[0-9a-f]{4}:)?(?:\[<(?P<ip>[0-9a-f]+)>\]\s+(?:\[<[0-9a-f]+>\]\s+)?)?"
        r"(?P<symbol>[\w.$]+)\+0x(?P<offset>[0-9a-f]+)/0x(?P<size>[0-9a-f]+)(?: \[(?P<module>[\w-]+)\])?",
        r"^(?P<ip_register>pc : |PC is at )(?P<symbol>[\w.$]+)\+0x(?P<offset>[0-9a-f]+)/0x(?P<size>[0-9a-f]+)(?: \[(?P<module>[\w-]+)\])?",
        r"^Modules linked in:(?P<modules_linked>.*)",
        r"^WARNING: CPU: (?P<cpu>\d+) PID: (?P<pid>\d+) at (?P<warn_at>\S+) (?P<symbol>[\w.$]+)\+0x(?P<offset>[0-9a-f]+)"
        r"/0x(?P<size>[0-9a-f]+)(?: \[(?P<module>[\w-]+)\])?",
        r"^CR2: (?P<cr2>[0-9a-f]+)",
        r"^(?P<call_trace>Call [Tt]race:)",
        r"page dumped because: (?P<reason>.+)",
        r"^page:\S+ (?:refcount|count):(?P<refcount>-?\d+) mapcount:(?P<mapcount>-?\d+)",
        r"^addr:(?P<address>[0-9a-fx]+) vm_flags:(?P<vm_flags>[0-9a-f]+)",
        r"^file:(?P<file>.*?) fault:(?P<fault_fn>\S+)(?: \[(?P<fault_module>[\w-]+)\])? mmap:(?P<mmap_fn>\S+)"
        r"(?: \[(?P<mmap_module>[\w-]+)\])?(?: (?:read_folio|readpage):(?P<read_folio_fn>\S+)"
        r"(?: \[(?P<read_folio_module>[\w-]+)\])?)?",
        r"^(?P<end>---\[ end trace)",
        # hung-task and RCU-stall reports print taint and the stalled CPU on lines of their own
        r"^\s+(?P<tainted>Not tainted|Tainted: [A-Z ]*[A-Z]) +\d",
        r"^rcu:\s+(?P<stall_cpu>\d+)-\S*: \(",
    )),
    "hw": tuple(re.compile(p) for p in (
        r"CPU:? ?(?P<cpu>\d+):? Machine Check(?: Exception| Event)?: (?P<mcgstatus>[0-9a-f]+) Bank (?P<bank>\d+): "
        r"(?P<mce_status>[0-9a-f]+)",
        r"ADDR (?P<address>[0-9a-f]+)",
        r"IPID (?P<ipid>[0-9a-f]+)",
        r"IPID: 0x(?P<ipid>[0-9a-f]+)",
        r"PROCESSOR (?P<cpu_vendor>\d+):(?P<cpuid>[0-9a-f]+)",
        r"MC(?P<bank>\d+)_STATUS\[(?P<amd_flags>[^\]]*)\]: 0x(?P<mce_status>[0-9a-f]+)",
        r"Error Addr: 0x(?P<address>[0-9a-f]+)",
        r"CPU:(?P<cpu>\d+) \([0-9a-f]+:[0-9a-f]+:[0-9a-f]+\) MC(?P<bank>\d+)_STATUS",
        r"(?P<amd_severity>Corrected error, no action required|Uncorrected, software containable error|"
        r"Uncorrected, software restartable error|System Fatal error|Deferred error, no action required)",
        r"Hardware error from APEI Generic Hardware Error Source: (?P<ghes_source>\d+)",
        r"event severity: (?P<ghes_severity>\w+)",
        r"section_type: (?P<section_type>.+?)\s*$",
        r"physical_address: (?P<address>0x[0-9a-f]+)",
        r"DIMM location: (?P<dimm>(?!not present).+?)\s*$",
        r"node: ?(?P<node>\d+) .*?bank: ?(?P<dram_bank>\d+)",
        r"fru_text: (?P<fru>.+?)\s*$",
        r"error_type: (?P<error_type>.+?)\s*$",
        r"Machine check: (?P<mce_text>.+?)\s*$",
        r"(?P<hw_corrected>It has been corrected by h/w)",
        r"EDAC (?:\S+ )?MC(?P<mc>\d+): (?:(?P<error_count>\d+) )?(?P<edac_kind>CE|UE)\b ?(?P<edac_text>.*)",
    )),
    "scsi": tuple(re.compile(p) for p in (
        r"Sense Key ?: ?(?P<sense_key>[\w ]+?)\s*(?:\[\w+\])?\s*$",
        r"Add\. Sense: (?P<add_sense>.+?)\s*$",
        r"ASC=0x(?P<asc>[0-9a-f]+) ASCQ=0x(?P<ascq>[0-9a-f]+)",
        r"CDB: (?P<cdb>.+?)\s*$",
        r"FAILED Result: (?P<result>.*)",
    )),
    "ata": tuple(re.compile(p) for p in (
        r"failed command: (?P<command>.+?)\s*$",
        r"status: \{ (?P<ata_status>[A-Z ]+?) \}",
        r"error: \{ (?P<ata_error>[A-Z ]+?) \}",
        r"SError: \{ (?P<serror>[\w ]+?) \}",
        r"(?P<link_reset>hard resetting link)",
    )),
    "aer": tuple(re.compile(p) for p in (
        r"^(?P<driver>[\w-]+) (?P<pci_device>[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]): ",
        r"PCIe Bus Error: severity=(?P<aer_severity>[\w (-]+?\)?), type=(?P<aer_type>[\w ]+)",
        r"device \[(?P<pci_id>[0-9a-f]{4}:[0-9a-f]{4})\] error status/mask=(?P<aer_status>[0-9a-f]+)/",
        r"\[\s*\d+\] (?P<aer_error>\w+)",
    )),
}

# How many lines a record may span, and how many unrelated lines it tolerates in a row.
RECORD_LIMITS = {"oops": (80, 80), "hw": (40, 6), "scsi": (12, 3), "ata": (24, 6), "aer": (12, 4)}
MAX_RECORD_LINES = max(span for span, _gap in RECORD_LIMITS.values())

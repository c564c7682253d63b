"""stress-ng output parser on real outputs of the lab image's stress-ng 0.15.06 (tests/fixtures/tools 220-221)."""

from __future__ import annotations

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.stress_ng import (
    StressNgParseError, exit_reason, parse_stress_ng, verify_failed)

from .test_fio_json import _fixture, _meta  # one reader of tests/fixtures/tools


def test_clean_run_with_two_workers():
    meta = _meta(220)
    parsed = parse_stress_ng(_fixture(220, "txt"))
    expect = meta["expect"]
    assert parsed["completed"] == expect["completed"] and parsed["seconds"] == expect["seconds"]
    assert parsed["dispatched"] == expect["dispatched"]
    # the metrics-brief table is logged at level "metrc" in 0.15: one row for both workers
    assert parsed["metrics"] == {"vm": {"bogo_ops": expect["bogo_ops"], "real_s": 3.0, "usr_s": 2.93, "sys_s": 0.97,
                                        "bogo_ops_per_s": 167695.12}}
    assert parsed["failures"] == [] and parsed["errors"] == [] and parsed["bit_errors"] == 0
    assert verify_failed(parsed, meta["rc"]) is False


def test_verification_failure_counts_the_workers_total_once():
    meta = _meta(221)
    parsed = parse_stress_ng(_fixture(221, "txt"))
    expect = meta["expect"]
    assert parsed["completed"] == "unsuccessful"
    assert len(parsed["failures"]) == expect["failures"]
    assert parsed["failures"][0] == "galpat-zero: detected 5 memory errors"
    assert parsed["failures"][-1] == "vm: detected 55 bit errors while stressing memory"
    # the per-method "memory errors" are part of the worker's "bit errors" total: not added twice
    assert parsed["bit_errors"] == expect["bit_errors"]
    assert parsed["errors"] == ["process [3849] (vm) terminated with an error, exit status=2 (stressor failed)"]
    assert parsed["metrics"]["vm"]["bogo_ops"] == expect["bogo_ops"]
    assert verify_failed(parsed, meta["rc"]) is True
    assert exit_reason(meta["rc"]) == "one or more stressors failed (verification found wrong data)"


def test_real_guest_run_with_a_sigill_under_tcg_is_still_clean():
    meta = _meta(222)
    parsed = parse_stress_ng(_fixture(222, "txt"))
    expect = meta["expect"]
    assert parsed["completed"] == expect["completed"] and parsed["signals"] == expect["signals"]
    assert parsed["metrics"]["vm"]["bogo_ops"] == expect["bogo_ops"] and parsed["failures"] == []
    assert verify_failed(parsed, meta["rc"]) is False


def test_a_fail_line_alone_or_exit_status_2_alone_is_a_verification_failure():
    clean = parse_stress_ng(_fixture(220, "txt"))
    assert verify_failed(clean, 2) is True
    # synthetic: the clean run's text with the failing worker's line added (stress-ng's own wording, fixture 221)
    failing = parse_stress_ng(_fixture(220, "txt") + "stress-ng: fail:  [9] vm: detected 1 bit errors while "
                                                     "stressing memory\n")
    assert verify_failed(failing, 0) is True and failing["bit_errors"] == 1
    assert verify_failed(None, 2) is True and verify_failed(None, 3) is False


def test_a_run_cut_by_timeout_has_no_completion():
    text = "\n".join(_fixture(220, "txt").splitlines()[:2])
    parsed = parse_stress_ng(text)
    assert parsed["completed"] is None and parsed["metrics"] == {} and parsed["dispatched"] == "2 vm"
    assert exit_reason(124) == "stopped by timeout at the time limit" and exit_reason(137) == "killed by signal 9"
    assert exit_reason(3) == "one or more stressors lacked resources to start"


@pytest.mark.parametrize("text", ["", "fio-3.33\n", "stress-ng, version 0.15.06\n", b"stress-ng: info:  [1] x"])
def test_not_stress_ng_output_is_a_clear_error(text):
    with pytest.raises(StressNgParseError):
        parse_stress_ng(text)

"""The kernel_findings and findings_summary filters inside a real playbook on localhost."""

from __future__ import annotations

import json
import os

import pytest

from e2e_support import FIXTURE_LOGS, LOCAL_INVENTORY, explain, recap, run, tool

# fixture: the primary categories expected (the sidecar's labels also count also_categories)
FIXTURES = {
    "corpus-045": ["block_io_error", "storage_device_error"],
    "pte_corruption-corrupted_page_table-syslog-6.10": ["pte_corruption"],
}


def _labels(name):
    with open(os.path.join(FIXTURE_LOGS, name + ".json")) as handle:
        return sorted(json.load(handle)["labels"])


GOOD_PLAY = """---
- name: Filters on real kernel-log text
  hosts: localhost
  gather_facts: false
  vars:
    fixtures: {fixtures}
  tasks:
    - name: Triage each fixture's text
      ansible.builtin.set_fact:
        triaged: "{{{{ triaged | default({{}}) | combine({{item.name: lookup('ansible.builtin.file', item.path)
                    | pteguard.remediation.kernel_findings}}) }}}}"
      loop: "{{{{ fixtures }}}}"

    - name: The categories (with also_categories) are the fixtures' labels
      ansible.builtin.assert:
        that:
          - ((triaged[item.name] | map(attribute='category') | list)
             + (triaged[item.name] | selectattr('also_categories', 'defined') | map(attribute='also_categories')
                | flatten | list)) | unique | sort == item.labels
          - triaged[item.name] | map(attribute='category') | unique | sort == item.main
          - triaged[item.name] | selectattr('line', 'lt', 1) | list | length == 0
      loop: "{{{{ fixtures }}}}"

    - name: Summarise corpus-045
      ansible.builtin.set_fact:
        summary: "{{{{ triaged['corpus-045'] | pteguard.remediation.findings_summary }}}}"

    - name: The summary counts what was found
      ansible.builtin.assert:
        that:
          - summary.total == triaged['corpus-045'] | length
          - "summary.by_category == {{'block_io_error': 2, 'storage_device_error': 1}}"
          - summary.devices == ['sdb']
          - summary.highest_severity == 'error'

    - name: Text given as a list of lines gives the same findings
      ansible.builtin.assert:
        that:
          - (lookup('ansible.builtin.file', fixtures[0].path).splitlines() | pteguard.remediation.kernel_findings)
            == triaged['corpus-045']

    - name: Empty text has no findings, and an empty list sums to nothing
      ansible.builtin.assert:
        that:
          - ('' | pteguard.remediation.kernel_findings) == []
          - ([] | pteguard.remediation.findings_summary).total == 0
          - ([] | pteguard.remediation.findings_summary).highest_severity is none

    - name: Bad input to the filters fails with a clear message
      block:
        - name: A string is not a list of findings
          ansible.builtin.debug:
            msg: "{{{{ 'not findings' | pteguard.remediation.findings_summary }}}}"
      rescue:
        - name: Keep the message
          ansible.builtin.set_fact:
            not_a_list: "{{{{ ansible_failed_result.msg }}}}"

    - name: Bad findings fail with a clear message
      block:
        - name: A dict that is not a finding
          ansible.builtin.debug:
            msg: "{{{{ [{{'category': 'no_such_category', 'severity': 'error'}}] | pteguard.remediation.findings_summary }}}}"
      rescue:
        - name: Keep the message
          ansible.builtin.set_fact:
            bad_item: "{{{{ ansible_failed_result.msg }}}}"

    - name: A dict is not kernel-log text
      block:
        - name: Feed kernel_findings a mapping
          ansible.builtin.debug:
            msg: "{{{{ {{'a': 1}} | pteguard.remediation.kernel_findings }}}}"
      rescue:
        - name: Keep the message
          ansible.builtin.set_fact:
            not_text: "{{{{ ansible_failed_result.msg }}}}"

    - name: Write the messages for the test to read
      ansible.builtin.copy:
        content: "{{{{ {{'not_a_list': not_a_list, 'bad_item': bad_item, 'not_text': not_text}} | to_json }}}}"
        dest: "{{{{ messages_file }}}}"
        mode: "0600"
"""

BAD_PLAY = """---
- name: findings_summary with bad input, not rescued
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Summarise something that is not findings
      ansible.builtin.debug:
        msg: "{{ {'category': 'pte_corruption'} | pteguard.remediation.findings_summary }}"
"""


@pytest.fixture(scope="module")
def good_run(ansible_env, tmp_path_factory):
    base = tmp_path_factory.mktemp("filters")
    fixtures = [{"name": name, "path": os.path.join(FIXTURE_LOGS, name + ".log"), "labels": _labels(name),
                 "main": main} for name, main in FIXTURES.items()]
    playbook = base / "filters.yml"
    playbook.write_text(GOOD_PLAY.format(fixtures=json.dumps(fixtures)))
    messages = base / "messages.json"
    proc = run([tool("ansible-playbook"), "-i", LOCAL_INVENTORY, str(playbook),
                "-e", json.dumps({"messages_file": str(messages)})], ansible_env, cwd=str(base))
    return proc, messages


def test_filters_give_the_expected_findings(good_run):
    proc, _messages = good_run
    assert proc.returncode == 0, explain(proc)
    counters = recap(proc.stdout)
    assert counters["localhost"]["failed"] == 0, explain(proc)
    # the three rescued failures are the only ones
    assert counters["localhost"]["rescued"] == 3, explain(proc)


def test_bad_input_gives_clear_messages(good_run):
    proc, messages = good_run
    assert messages.is_file(), explain(proc)
    got = json.loads(messages.read_text())
    assert "findings_summary expects a list of findings" in got["not_a_list"], got
    assert "findings_summary" in got["bad_item"] and "no_such_category" in got["bad_item"], got
    assert "kernel_findings expects kernel-log text" in got["not_text"], got
    for message in got.values():
        assert "Traceback" not in message and 'File "' not in message, message


def test_unrescued_bad_input_fails_the_task_without_traceback(ansible_env, tmp_path):
    playbook = tmp_path / "bad.yml"
    playbook.write_text(BAD_PLAY)
    proc = run([tool("ansible-playbook"), "-i", LOCAL_INVENTORY, str(playbook)], ansible_env, cwd=str(tmp_path))
    assert proc.returncode == 2, explain(proc)
    assert recap(proc.stdout)["localhost"]["failed"] == 1, explain(proc)
    output = proc.stdout + proc.stderr
    assert "findings_summary expects a list of findings" in output, explain(proc)
    assert "Traceback" not in output, explain(proc)

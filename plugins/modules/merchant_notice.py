#!/usr/bin/python
# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is implemented as an action plugin (plugins/action/merchant_notice.py): it runs on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
module: merchant_notice
short_description: Send a merchant the notice of a coming maintenance window
version_added: 0.1.0
author:
  - posfleet developers (@posfleet)
description:
  - Renders the notice of a maintenance window for one store in Chinese (zh-CN) and English (what will be done,
    when, for how long, what the merchant sees), writes it to a file outbox on the controller and, when apprise
    URLs are given, sends it through them (e-mail, webhooks, DingTalk, WeCom, ... any channel apprise supports).
  - Runs on the controller only; no connection to the terminals is made.
  - The notice to send is the result of the P(posfleet.terminals.maintenance_notice#filter) filter.
options:
  store:
    description: The store the notice is for (names the outbox file).
    type: str
    required: true
  merchant:
    description: The merchant's name in the text; the store when not given.
    type: str
  notice:
    description:
      - The window and the tiers, as returned by P(posfleet.terminals.maintenance_notice#filter) (keys
        C(window_start), C(window_start_local), C(window_end_local), C(timezone), C(tiers), C(duration_minutes)).
    type: dict
    required: true
  terminals:
    description: The store's terminals the window applies to.
    type: list
    elements: str
    required: true
  languages:
    description:
      - Languages of the notice, each a message and an outbox file, rendered from the template
        C(notice.<language>.j2).
      - The collection ships C(zh-CN), C(en) and C(de) (in the C(posfleet.terminals.timetable) role's
        C(templates/)); O(template_dir) may add others.
    type: list
    elements: str
    default: [zh-CN, en]
  template_dir:
    description:
      - Directory on the controller with notice templates C(notice.<language>.j2) (Jinja2) that replace the
        collection's; a language without one there uses the collection's.
      - A template's first line is the title, the rest the body. It gets C(merchant), C(terminals) (sorted),
        C(start) and C(end) (local datetimes of the window), C(timezone), C(duration_minutes) (per terminal) and
        C(tiers) (each C(tier), C(description), C(duration_minutes)).
    type: path
  outbox:
    description: Directory on the controller where each notice is written as C(<store>-<window>.<language>.txt).
    type: path
    required: true
  urls:
    description:
      - apprise URLs to send the notice through (for example C(mailto://user:pass@example.com),
        C(json://hooks.example.com/notices), C(dingtalk://token/), C(wecombot://key)). They hold secrets and are
        never shown. Empty - the outbox only.
    type: list
    elements: str
    default: []
  now:
    description: When the notice is sent (ISO 8601), recorded in the ledger; the real clock when not given.
    type: str
extends_documentation_fragment:
  - posfleet.terminals.attributes.CONTROLLER
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without sending anything.
    support: full
    details: In check mode nothing is written or sent; the rendered messages are returned.
notes:
  - Needs the Python package C(apprise) on the controller only when O(urls) are given.
"""

EXAMPLES = r"""
- name: Send the notice of the next window to the merchant
  posfleet.terminals.merchant_notice:
    store: sh01
    merchant: Shanghai Nanjing Road store
    notice: "{{ inventory_hostname | posfleet.terminals.maintenance_notice(posfleet_timetable_tiers) }}"
    terminals: [sh01-t100-01, sh01-m200-01]
    outbox: "{{ posfleet_timetable_data_dir }}/outbox"
    urls: "{{ vault_store_notify_urls }}"
  run_once: true
"""

RETURN = r"""
sent:
  description: Whether the notice was written to the outbox (and sent to every channel). False in check mode.
  returned: always
  type: bool
  sample: true
sent_at:
  description: When the notice was sent, UTC ISO 8601 (the O(now) option when given).
  returned: always
  type: str
  sample: "2026-11-22T09:00:00Z"
window_start:
  description: Start of the window the notice announces, UTC ISO 8601.
  returned: always
  type: str
  sample: "2026-11-23T18:00:00Z"
channels:
  description: Number of apprise channels the notice went to (the URLs themselves are never returned).
  returned: always
  type: int
  sample: 0
messages:
  description: One per language, with C(language), C(title), C(body) and the outbox C(file) written.
  returned: always
  type: list
  elements: dict
  sample:
    - language: en
      title: "POS terminal maintenance: sh01, 2026-11-24 02:00-05:00 Asia/Shanghai"
      body: "Dear merchant (sh01), ..."
      file: results/timetable/outbox/sh01-20261123T180000Z.en.txt
"""

# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merchant notices of a maintenance window: zh-CN and English texts, the file outbox, apprise delivery."""

from __future__ import annotations

import datetime
import os
import re

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _runrecord

TIER_NAMES_ZH = {
    "daily": "日常维护", "weekly": "每周维护（连接检查、应用更新、数据备份）",
    "monthly": "每月全面维护（硬件诊断、安全检查、恢复演练）",
    "quarterly": "季度预防性维护（易损件、电池、凭据更换）", "annual": "年度全面检修与校准",
}
LANGUAGES = ("zh-CN", "en")


def _local(value):
    return datetime.datetime.fromisoformat(value)


def render(language, merchant, notice, terminals):
    """(title, body) of the notice for a window, in ``language``."""
    start, end = _local(notice["window_start_local"]), _local(notice["window_end_local"])
    tz = notice["timezone"]
    minutes = notice["duration_minutes"]
    hosts = ", ".join(sorted(terminals))
    if language == "zh-CN":
        items = "\n".join(f"  - {t.get('description_zh') or TIER_NAMES_ZH.get(t['tier']) or t['description']}"
                          f"（约 {t['duration_minutes']} 分钟）" for t in notice["tiers"])
        title = f"【收款终端维护通知】{merchant} {start:%Y-%m-%d} {start:%H:%M}–{end:%H:%M}"
        body = (
            f"尊敬的商户（{merchant}）：\n\n"
            f"我们将于 {start:%Y年%m月%d日 %H:%M} 至 {end:%H:%M}（{tz} 当地时间）在营业低峰时段对贵店的 "
            f"{len(terminals)} 台收款终端进行维护，每台终端预计用时约 {minutes} 分钟。\n\n"
            f"维护内容：\n{items}\n\n"
            "维护期间终端屏幕显示\u201c功能维护中\u201d，暂停刷卡收款；维护完成后终端自动恢复营业，无需操作。\n"
            "请在维护开始前完成当日结算。如需改期，请在维护开始前联系 IT 运维。\n\n"
            f"涉及终端：{hosts}\n")
    else:
        items = "\n".join(f"  - {t['description']} (about {t['duration_minutes']} min)" for t in notice["tiers"])
        title = f"POS terminal maintenance: {merchant}, {start:%Y-%m-%d} {start:%H:%M}-{end:%H:%M} {tz}"
        body = (
            f"Dear merchant ({merchant}),\n\n"
            f"Your {len(terminals)} payment terminal(s) will be maintained on {start:%A %d %B %Y} between "
            f"{start:%H:%M} and {end:%H:%M} local time ({tz}), outside trading hours; each terminal is out of "
            f"service for about {minutes} minutes.\n\n"
            f"What will be done:\n{items}\n\n"
            "Meanwhile the terminal's screen shows \"Under maintenance\" and takes no card payments; it returns to "
            "service by itself when the work is done, nothing to do on your side.\n"
            "Please settle the day's batch before the window starts. To move the date, contact IT before the "
            "window starts.\n\n"
            f"Terminals: {hosts}\n")
    return title, body


def outbox_name(store, window_start, language):
    stamp = re.sub(r"[^0-9TZ]", "", window_start)
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', store)}-{stamp}.{language}.txt"


def write_outbox(directory, name, title, body):
    return _runrecord.atomic_write(os.path.join(directory, name), f"Subject: {title}\n\n{body}")


def send(urls, title, body):
    """Deliver through apprise; returns (ok, number of channels). URLs (they hold secrets) are never returned."""
    import apprise  # imported late: only needed when channels are configured

    sender = apprise.Apprise()
    added = sum(1 for url in urls if sender.add(url))
    if added != len(urls):
        return False, added
    return bool(sender.notify(body=body, title=title)), added

# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merchant notices of a maintenance window: their texts from Jinja2 templates (zh-CN, English and German ship
with the collection, an admin may override them), the file outbox, apprise delivery."""

from __future__ import annotations

import datetime
import os
import re

import jinja2

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _runrecord

# The languages the collection ships a notice template for (roles/timetable/templates/notice.<language>.j2); an
# admin's template directory may add others.
LANGUAGES = ("zh-CN", "en", "de")
TEMPLATES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             "roles", "timetable", "templates")
LANGUAGE_RE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


class NoticeTemplateError(ValueError):
    """A notice template that is missing or does not render."""


def _local(value):
    return datetime.datetime.fromisoformat(value)


def render(language, merchant, notice, terminals, template_dir=None):
    """(title, body) of the notice for a window, in ``language``, from the template ``notice.<language>.j2`` of
    ``template_dir`` when it has one, else the collection's: its first line is the title, the rest the body."""
    if not LANGUAGE_RE.fullmatch(str(language)):
        raise NoticeTemplateError(f"language {language!r} is not a language tag such as zh-CN, en or de")
    dirs = [d for d in (template_dir, TEMPLATES_DIR) if d]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(dirs), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, keep_trailing_newline=True, autoescape=False)
    name = f"notice.{language}.j2"
    try:
        template = env.get_template(name)
    except jinja2.TemplateNotFound:
        raise NoticeTemplateError(f"no notice template {name} in {' or '.join(dirs)}. Fix: add it there, or leave "
                                  f"{language} out of posfleet_timetable_notice_languages") from None
    try:
        text = template.render(merchant=merchant, terminals=sorted(terminals), timezone=notice["timezone"],
                               start=_local(notice["window_start_local"]), end=_local(notice["window_end_local"]),
                               duration_minutes=notice["duration_minutes"], tiers=notice["tiers"])
    except jinja2.TemplateError as exc:
        raise NoticeTemplateError(f"notice template {template.filename}: {exc}. Fix: correct the template") from None
    title, _newline, body = text.partition("\n")
    return title.strip(), body.lstrip("\n")


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

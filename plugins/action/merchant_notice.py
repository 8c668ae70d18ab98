# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import datetime

from ansible.plugins.action import ActionBase

from ansible_collections.posfleet.terminals.plugins.plugin_utils import _notice

ARGUMENT_SPEC = {
    "store": {"type": "str", "required": True},
    "merchant": {"type": "str"},
    "notice": {"type": "dict", "required": True},
    "terminals": {"type": "list", "elements": "str", "required": True},
    "languages": {"type": "list", "elements": "str", "default": ["zh-CN", "en"]},
    "template_dir": {"type": "path"},
    "outbox": {"type": "path", "required": True},
    "urls": {"type": "list", "elements": "str", "default": [], "no_log": True},
    "now": {"type": "str"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        notice = args["notice"]
        for key in ("window_start", "window_start_local", "window_end_local", "timezone", "tiers",
                    "duration_minutes"):
            if key not in notice:
                result.update(failed=True, msg=f"notice is missing {key!r}: pass the result of "
                                               "posfleet.terminals.maintenance_notice")
                return result
        merchant = args["merchant"] or args["store"]
        sent_at = args["now"] or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        messages = []
        for language in args["languages"]:
            try:
                title, body = _notice.render(language, merchant, notice, args["terminals"], args["template_dir"])
            except _notice.NoticeTemplateError as exc:
                result.update(failed=True, msg=f"store {args['store']}: merchant notice: {exc}")
                return result
            name = _notice.outbox_name(args["store"], notice["window_start"], language)
            messages.append({"language": language, "title": title, "body": body, "file": None, "name": name})
        result.update(changed=True, sent=False, sent_at=sent_at, window_start=notice["window_start"],
                      channels=len(args["urls"]), messages=messages, store=args["store"])
        if self._task.check_mode:
            result["msg"] = "check mode: the notice would be sent"
            return result
        try:
            for message in messages:
                message["file"] = _notice.write_outbox(args["outbox"], message["name"], message["title"],
                                                       message["body"])
            if args["urls"]:
                title = " / ".join(m["title"] for m in messages)
                body = "\n\n".join(m["body"] for m in messages)
                ok, added = _notice.send(args["urls"], title, body)
                if not ok:
                    result.update(failed=True, msg=f"the notice for store {args['store']} was not delivered to "
                                                   f"every channel ({len(args['urls'])} configured, {added} "
                                                   "understood by apprise); it is in the outbox, check the apprise "
                                                   "URLs and the channels")
                    return result
        except Exception as exc:
            result.update(failed=True, msg=f"the notice for store {args['store']} could not be written or sent: "
                                           f"{exc}")
            return result
        result["sent"] = True
        result["msg"] = (f"notice for store {args['store']} ({len(args['terminals'])} terminals, window "
                         f"{notice['window_start_local']}) written to the outbox"
                         + (f" and sent through {len(args['urls'])} channel(s)" if args["urls"] else ""))
        return result

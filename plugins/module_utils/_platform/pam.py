# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A password check through the terminal's own PAM stack (libpam through ctypes), and the faillock tally it
must leave as it found it.

Private to the collection; Python >= 3.9 standard library only.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import struct
import time

PAM_SUCCESS = 0
PAM_PROMPT_ECHO_OFF = 1
PAM_PROMPT_ECHO_ON = 2
PAM_FAIL_DELAY = 10
PAM_SILENT = 0x8000
PAM_BUF_ERR = 5
PAM_CONV_ERR = 19

FAILLOCK_DEFAULTS = {'dir': '/var/run/faillock', 'deny': 3, 'fail_interval': 900, 'unlock_time': 600}
# pam_faillock's tally record: char source[52]; uint16 reserved; uint16 status; uint64 time (faillock.h).
TALLY = struct.Struct('=52sHHQ')
TALLY_STATUS_VALID = 0x1


class _Message(ctypes.Structure):
    _fields_ = [('msg_style', ctypes.c_int), ('msg', ctypes.c_char_p)]


class _Response(ctypes.Structure):
    _fields_ = [('resp', ctypes.c_void_p), ('resp_retcode', ctypes.c_int)]


_CONV = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.POINTER(_Message)),
                         ctypes.POINTER(ctypes.POINTER(_Response)), ctypes.c_void_p)
_DELAY = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p)


class _Conv(ctypes.Structure):
    _fields_ = [('conv', _CONV), ('appdata_ptr', ctypes.c_void_p)]


def _libraries():
    pam_name = ctypes.util.find_library('pam') or 'libpam.so.0'
    libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    libpam = ctypes.CDLL(pam_name)
    libc.calloc.restype = ctypes.c_void_p
    libc.calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
    libc.strdup.restype = ctypes.c_void_p
    libc.strdup.argtypes = [ctypes.c_char_p]
    libpam.pam_start.restype = ctypes.c_int
    libpam.pam_start.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(_Conv),
                                 ctypes.POINTER(ctypes.c_void_p)]
    libpam.pam_authenticate.restype = ctypes.c_int
    libpam.pam_authenticate.argtypes = [ctypes.c_void_p, ctypes.c_int]
    libpam.pam_set_item.restype = ctypes.c_int
    libpam.pam_set_item.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    libpam.pam_end.restype = ctypes.c_int
    libpam.pam_end.argtypes = [ctypes.c_void_p, ctypes.c_int]
    libpam.pam_strerror.restype = ctypes.c_char_p
    libpam.pam_strerror.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return libc, libpam


def pam_authenticate(service, user, password):
    """``(ok, pam_message)``: does PAM service ``service`` accept ``password`` for ``user``?

    The password goes to PAM through the conversation function, in this process's memory only (never an argv,
    environment or file). PAM's delay after a failure is skipped: the check is not a login.
    Raises OSError when libpam is not there.
    """
    libc, libpam = _libraries()
    secret = password.encode('utf-8')

    def converse(count, messages, responses, _appdata):
        block = libc.calloc(count, ctypes.sizeof(_Response))
        if not block:
            return PAM_BUF_ERR
        answers = ctypes.cast(block, ctypes.POINTER(_Response))
        for i in range(count):
            if messages[i].contents.msg_style in (PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON):
                answers[i].resp = libc.strdup(secret)  # PAM frees what the conversation hands it
                answers[i].resp_retcode = 0
        responses[0] = answers
        return PAM_SUCCESS

    conv_callback = _CONV(converse)
    delay_callback = _DELAY(lambda _retval, _usec, _appdata: None)
    conv = _Conv(conv_callback, None)
    handle = ctypes.c_void_p()
    rc = libpam.pam_start(service.encode(), user.encode('utf-8'), ctypes.byref(conv), ctypes.byref(handle))
    if rc != PAM_SUCCESS:
        return False, f'pam_start failed ({rc})'
    try:
        libpam.pam_set_item(handle, PAM_FAIL_DELAY, ctypes.cast(delay_callback, ctypes.c_void_p))
        rc = libpam.pam_authenticate(handle, PAM_SILENT)
        message = (libpam.pam_strerror(handle, rc) or b'').decode('utf-8', 'replace')
    finally:
        libpam.pam_end(handle, rc)
    return rc == PAM_SUCCESS, message


def faillock_settings(conf_path):
    """pam_faillock's settings from ``faillock.conf`` (its defaults for what the file leaves out)."""
    settings = dict(FAILLOCK_DEFAULTS)
    try:
        with open(conf_path, encoding='utf-8') as handle:
            lines = handle.read().splitlines()
    except OSError:
        return settings
    for line in lines:
        line = line.split('#', 1)[0].strip()
        key, sep, value = line.partition('=')
        key, value = key.strip(), value.strip()
        if not sep or key not in settings:
            continue
        if key == 'dir':
            settings['dir'] = value
        else:
            with contextlib.suppress(ValueError):
                settings[key] = int(value)
    return settings


def faillock_failures(tally, settings, now=None):
    """Failures in a tally file's bytes that still count (inside ``fail_interval``)."""
    now = time.time() if now is None else now
    failures = []
    usable = len(tally) - len(tally) % TALLY.size
    for offset in range(0, usable, TALLY.size):
        _source, _reserved, status, stamp = TALLY.unpack_from(tally, offset)
        if status & TALLY_STATUS_VALID and now - stamp <= settings['fail_interval']:
            failures.append(stamp)
    return failures


def faillock_locked(tally, settings, now=None):
    now = time.time() if now is None else now
    failures = faillock_failures(tally, settings, now)
    deny = settings['deny']
    if deny <= 0 or len(failures) < deny:
        return False
    unlock = settings['unlock_time']
    return unlock == 0 or now - max(failures) < unlock


def read_tally(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def tally_path(settings, user, root='/'):
    directory = settings['dir']
    if root not in ('', '/'):
        directory = os.path.join(root, directory.lstrip('/'))
    return os.path.join(directory, user)

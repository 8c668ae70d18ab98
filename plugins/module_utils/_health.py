# Copyright (c) posfleet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Health evaluation: the daemon's raw results in, a list of checks out. Pure logic, no I/O.

A check is ``{name, status, critical, latency_ms, reason, value, details}`` with ``status`` one of
``pass``, ``warn``, ``fail``, ``not_applicable``. ``critical`` marks checks without which the terminal
cannot take card payments; ``fail_on: critical`` fails a task only on those.

Thresholds compare strictly: "fail below 5%" means 5% itself is not a failure (it is a warning when the
warning threshold is higher); "warn above 60°C" means 60°C itself passes.

Private to the collection (leading underscore): it may change without notice.
"""

from __future__ import annotations

import math

from ansible_collections.posfleet.terminals.plugins.module_utils._untrusted import shown

PASS = 'pass'
WARN = 'warn'
FAIL = 'fail'
NOT_APPLICABLE = 'not_applicable'
STATUSES = (PASS, WARN, FAIL, NOT_APPLICABLE)
SEVERITY = {NOT_APPLICABLE: 0, PASS: 1, WARN: 2, FAIL: 3}

DEFAULT_THRESHOLDS = {
    'paper_warn_pct': 20,
    'paper_fail_pct': 5,
    'head_wear_warn_pct': 80,
    'battery_warn_pct': 20,
    'battery_fail_pct': 10,
    'battery_health_warn_pct': 70,
    'temperature_warn_c': 60.0,
    'temperature_fail_c': 70.0,
    'network_connect_warn_ms': 1000,
    'acquirer_warn_ms': 2000,
    'acquirer_fail_ms': 5000,
    'tls_handshake_warn_ms': 1000,
}

# The checks in the order they are reported, and whether each is critical (no card payments without it).
CHECKS = (
    ('daemon', True),
    ('card_reader', True),
    ('scanner', False),
    ('printer', True),
    ('printer_head', False),
    ('battery', False),
    ('battery_health', False),
    ('sensors', False),
    ('network', True),
    ('acquirer_transaction', True),
)
CRITICAL = dict(CHECKS)
CHECK_NAMES = tuple(name for name, dummy in CHECKS)

# The device (model peripheral / daemon hardware key) each device check reads.
DEVICE_OF = {
    'card_reader': 'card_reader',
    'scanner': 'scanner',
    'printer': 'printer',
    'printer_head': 'printer',
    'battery': 'battery',
    'battery_health': 'battery',
    'sensors': 'sensors',
}
LABEL = {
    'card_reader': 'card reader',
    'scanner': 'scanner',
    'printer': 'printer',
    'battery': 'battery',
    'sensors': 'sensors',
}
DEVICE_FIX = {
    'card_reader': 'reseat the card reader; replace it if the fault persists',
    'scanner': 'clean the scanner window and reseat it; replace it if the fault persists',
    'printer': 'power-cycle the printer; replace it if the fault persists',
    'battery': 'reseat the battery; replace it if the fault persists',
    'sensors': 'reboot the terminal; send it for repair if the fault persists',
}
STAGE_FIX = {
    'link': "check the terminal's network link (cable, Wi-Fi or mobile data)",
    'connect': 'check that the store network reaches the acquirer (firewall, DNS, route)',
    'handshake': ("check the acquirer CA and min_tls of the terminal's acquirer link configuration and "
                  'the terminal clock'),
    'response': "the acquirer did not answer in time: check the acquirer's service status",
}
VERIFY_FIX = ('set "verify": true and the acquirer CA in ca_file of {config}, then check that a test transaction '
              'is approved')


def thresholds(overrides=None):
    """The default thresholds updated with ``overrides`` (``None`` values keep the default)."""
    result = dict(DEFAULT_THRESHOLDS)
    for key, value in (overrides or {}).items():
        if key not in DEFAULT_THRESHOLDS:
            raise ValueError(f'unknown threshold {key!r}')
        if value is not None:
            result[key] = value
    return result


def fmt(value):
    """A number for a sentence: ``5`` not ``5.0``, ``12.5`` stays."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == int(value):
            return str(int(value))
        return f'{value:.1f}'.rstrip('0').rstrip('.')
    return str(value)


def number(value):
    """``value`` as int/float, or ``None`` when it is not a finite number (NaN and infinities are none)."""
    if isinstance(value, bool) or value is None:
        return None
    if not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
    return value if not isinstance(value, float) or math.isfinite(value) else None


def check(name, status, reason, value=None, latency_ms=None, details=None):
    if status not in STATUSES:
        raise ValueError(f'unknown status {status!r}')
    return {
        'name': name,
        'status': status,
        'critical': CRITICAL.get(name, False),
        'latency_ms': latency_ms,
        'reason': reason,
        'value': value,
        'details': details or {},
    }


def worst(findings):
    """From ``[(status, reason)]`` the worst status and the reasons of that status joined by ``; ``."""
    top = max(SEVERITY[status] for status, dummy in findings)
    status = [s for s, dummy in findings if SEVERITY[s] == top][0]
    return status, '; '.join(reason for s, reason in findings if s == status)


def low(value, warn, fail, what, unit, fix_fail, fix_warn):
    """Low-is-bad metric (paper, charge). Returns ``(status, reason)``."""
    if fail is not None and value < fail:
        return FAIL, f'{what} at {fmt(value)}{unit} (fail below {fmt(fail)}{unit}): {fix_fail}'
    if warn is not None and value < warn:
        return WARN, f'{what} at {fmt(value)}{unit} (warn below {fmt(warn)}{unit}): {fix_warn}'
    return PASS, f'{what} at {fmt(value)}{unit}'


def high(value, warn, fail, what, unit, fix_fail, fix_warn):
    """High-is-bad metric (temperature, response time). Returns ``(status, reason)``."""
    if fail is not None and value > fail:
        return FAIL, f'{what} {fmt(value)}{unit} (fail above {fmt(fail)}{unit}): {fix_fail}'
    if warn is not None and value > warn:
        return WARN, f'{what} {fmt(value)}{unit} (warn above {fmt(warn)}{unit}): {fix_warn}'
    return PASS, f'{what} {fmt(value)}{unit}'


def merge_device(name, devices=None, hardware=None):
    """One device's view: the platform's live state keys (``Platform.peripherals()``) overlaid with the
    selftest's live result.

    A fault seen by either wins: ``ok`` is false (with that answer's ``detail``) when either says so.
    """
    merged = {}
    hardware = hardware or {}
    if isinstance(hardware.get(name), dict):
        merged.update(hardware[name])
    for entry in devices or []:
        if isinstance(entry, dict) and entry.get('device') == name:
            fault = merged.get('ok') is False and entry.get('ok') is not False
            kept = {k: merged.get(k) for k in ('ok', 'detail')}
            merged.update(entry)
            if fault:
                merged.update(kept)
            break
    return merged


class Evaluator:
    """Turns one terminal's raw results into checks."""

    def __init__(self, model, hardware=None, daemon=None, devices=None, daemon_error=None, probe=None,
                 transaction=None, skipped=None, limits=None):
        self.model = model or {}
        self.model_name = self.model.get('model') or 'unknown'
        self.peripherals = self.model.get('peripherals') or {}
        self.hardware = hardware
        self.daemon = daemon
        self.devices = devices
        self.daemon_error = daemon_error
        self.probe = probe
        self.transaction = transaction
        self.skipped = skipped or {}
        self.t = thresholds(limits)

    def run(self):
        return [getattr(self, 'check_' + name)() for name in CHECK_NAMES]

    # helpers -----------------------------------------------------------------------------------------

    @property
    def daemon_down(self):
        return self.daemon is None and self.devices is None

    def not_tested(self, name):
        if name in self.skipped:
            return check(name, NOT_APPLICABLE, self.skipped[name])
        return check(name, NOT_APPLICABLE, 'not tested: posd could not be asked (see the daemon check)')

    def device(self, name):
        """``(check, None)`` when the check cannot be evaluated, else ``(None, state)``."""
        dev = DEVICE_OF[name]
        if name in self.skipped:
            return check(name, NOT_APPLICABLE, self.skipped[name]), None
        if dev in self.peripherals and not self.peripherals[dev]:
            return check(name, NOT_APPLICABLE, f'model {self.model_name} has no {LABEL[dev]}'), None
        state = merge_device(dev, self.devices, self.hardware)
        if not state:
            if self.daemon_down:
                return self.not_tested(name), None
            if dev not in self.peripherals:
                return check(name, NOT_APPLICABLE, f'model {self.model_name} has no {LABEL[dev]}'), None
            return check(name, FAIL, f'{LABEL[dev]} not reported by posd: {DEVICE_FIX[dev]}'), None
        if state.get('present') is False:
            if self.peripherals.get(dev):
                reason = f'{LABEL[dev]} not detected (model {self.model_name} has one): {DEVICE_FIX[dev]}'
                return check(name, FAIL, reason, details=state), None
            return check(name, NOT_APPLICABLE, f'model {self.model_name} has no {LABEL[dev]}'), None
        return None, state

    @staticmethod
    def unexplained(state, findings, other=False):
        """The daemon says the device is not ok, and neither our thresholds nor ``other`` account for it."""
        return state.get('ok') is False and not other and all(s == PASS for s, dummy in findings)

    @staticmethod
    def measure(state, key, what, dev, findings):
        """A number of the device state; one that is there but is not a finite number is a failure, never a
        pass (untrusted input: ``NaN`` compares false with every threshold)."""
        raw = state.get(key)
        value = number(raw)
        if value is None and raw is not None:
            findings.append((FAIL, f'{what} reported as {shown(raw)}, not a number: {DEVICE_FIX[dev]}'))
        return value

    @staticmethod
    def fault(dev, state):
        detail = state.get('detail') or 'reported not ok'
        return FAIL, f'{LABEL[dev]} fault ({detail}): {DEVICE_FIX[dev]}'

    @staticmethod
    def details(state, drop=('device',)):
        return {k: v for k, v in state.items() if k not in drop}

    def simple_device(self, name):
        done, state = self.device(name)
        if done:
            return done
        status_value = state.get('status')
        if state.get('ok') is False or (status_value is not None and status_value != 'ok'):
            status, reason = self.fault(name, state)
        else:
            status, reason = PASS, f'{LABEL[name]} ok'
        return check(name, status, reason, value=status_value, latency_ms=state.get('latency_ms'),
                     details=self.details(state))

    # checks ------------------------------------------------------------------------------------------

    def check_daemon(self):
        if self.daemon_error:
            return check('daemon', FAIL, str(self.daemon_error))
        if self.daemon is None:
            return self.not_tested('daemon')
        version = self.daemon.get('version')
        slot = self.daemon.get('slot')
        reason = f"posd {version or '(unknown version)'} running from slot {slot or '?'}"
        return check('daemon', PASS, reason, value=version,
                     details={'version': version, 'slot': slot, 'pid': self.daemon.get('pid'),
                              'started': self.daemon.get('started')})

    def check_card_reader(self):
        return self.simple_device('card_reader')

    def check_scanner(self):
        return self.simple_device('scanner')

    def check_printer(self):
        done, state = self.device('printer')
        if done:
            return done
        t = self.t
        findings = []
        if state.get('jam'):
            findings.append((FAIL, 'printer jammed: open the cover and clear the jam'))
        if state.get('cover_open'):
            findings.append((FAIL, 'printer cover open: close the printer cover'))
        paper = self.measure(state, 'paper_pct', 'paper level', 'printer', findings)
        if paper is not None:
            findings.append(low(paper, t['paper_warn_pct'], t['paper_fail_pct'], 'paper', '%',
                                'load a new paper roll', 'keep a spare paper roll at the counter'))
        wear, life = number(state.get('head_wear_km')), number(state.get('head_life_km'))
        head_worn = bool(wear is not None and life and wear * 100.0 / life > t['head_wear_warn_pct'])
        if self.unexplained(state, findings, head_worn):
            findings.append(self.fault('printer', state))
        if not findings:
            findings.append((PASS, 'printer ok'))
        status, reason = worst(findings)
        return check('printer', status, reason, value=paper, latency_ms=state.get('latency_ms'),
                     details=self.details(state))

    def check_printer_head(self):
        done, state = self.device('printer_head')
        if done:
            return done
        findings = []
        wear = self.measure(state, 'head_wear_km', 'print head wear', 'printer', findings)
        life = self.measure(state, 'head_life_km', 'print head rated life', 'printer', findings)
        if findings:
            status, reason = worst(findings)
            return check('printer_head', status, reason, details=self.details(state))
        if wear is None or not life:
            return check('printer_head', NOT_APPLICABLE, 'print head wear not reported by posd')
        pct = round(wear * 100.0 / life, 1)
        warn = self.t['head_wear_warn_pct']
        details = {'head_wear_km': wear, 'head_life_km': life, 'head_wear_pct': pct}
        if warn is not None and pct > warn:
            reason = (f'print head at {fmt(pct)}% of its rated life ({fmt(wear)} of {fmt(life)} km; '
                      f'warn above {fmt(warn)}%): plan a print head replacement')
            return check('printer_head', WARN, reason, value=pct, details=details)
        return check('printer_head', PASS, f'print head at {fmt(pct)}% of its rated life', value=pct,
                     details=details)

    def check_battery(self):
        done, state = self.device('battery')
        if done:
            return done
        t = self.t
        findings = []
        charge = self.measure(state, 'charge_pct', 'battery charge', 'battery', findings)
        charging = bool(state.get('charging'))
        if charge is not None:
            fix = 'charging, keep it on the charger' if charging else 'put the terminal on its charger'
            findings.append(low(charge, t['battery_warn_pct'], t['battery_fail_pct'], 'battery', '%', fix, fix))
        health = self.measure(state, 'health_pct', 'battery health', 'battery', findings)
        worn = health is not None and health < t['battery_health_warn_pct']
        if self.unexplained(state, findings, worn):
            findings.append(self.fault('battery', state))
        if not findings:
            findings.append((PASS, 'battery ok'))
        status, reason = worst(findings)
        if status == PASS and charging:
            reason += ' (charging)'
        return check('battery', status, reason, value=charge, latency_ms=state.get('latency_ms'),
                     details=self.details(state))

    def check_battery_health(self):
        done, state = self.device('battery_health')
        if done:
            return done
        findings = []
        health = self.measure(state, 'health_pct', 'battery health', 'battery', findings)
        if findings:
            status, reason = worst(findings)
            return check('battery_health', status, reason, details=self.details(state))
        if health is None:
            return check('battery_health', NOT_APPLICABLE, 'battery health not reported by posd')
        warn = self.t['battery_health_warn_pct']
        details = {'health_pct': health, 'cycle_count': state.get('cycle_count')}
        if warn is not None and health < warn:
            reason = f'battery health {fmt(health)}% (warn below {fmt(warn)}%): plan a battery replacement'
            return check('battery_health', WARN, reason, value=health, details=details)
        return check('battery_health', PASS, f'battery health {fmt(health)}%', value=health, details=details)

    def check_sensors(self):
        done, state = self.device('sensors')
        if done:
            return done
        findings = []
        temp = self.measure(state, 'temperature_c', 'temperature', 'sensors', findings)
        if temp is not None:
            findings.append(high(temp, self.t['temperature_warn_c'], self.t['temperature_fail_c'], 'temperature',
                                 '°C', 'switch the terminal off, let it cool and check its ventilation',
                                 'keep the terminal out of direct sun and away from heat sources'))
        if self.unexplained(state, findings):
            findings.append(self.fault('sensors', state))
        if not findings:
            findings.append((PASS, 'sensors ok'))
        status, reason = worst(findings)
        return check('sensors', status, reason, value=temp, latency_ms=state.get('latency_ms'),
                     details=self.details(state))

    def check_network(self):
        if 'network' in self.skipped:
            return check('network', NOT_APPLICABLE, self.skipped['network'])
        findings = []
        details = {}
        link = (self.hardware or {}).get('network')
        if isinstance(link, dict):
            details['link'] = dict(link)
            detail = link.get('detail') or 'acquirer down'
            if link.get('ok') is False or link.get('acquirer') == 'down':
                findings.append((FAIL, f"network link down (posd: {detail}): {STAGE_FIX['link']}"))
            elif link.get('acquirer') == 'slow':
                findings.append((WARN, f'network link slow (posd: {detail}): check the store network'))
        probe = self.probe
        connect_ms = None
        if probe is None:
            if not findings:
                return check('network', NOT_APPLICABLE, 'not tested: acquirer endpoint unknown', details=details)
        else:
            details.update(probe)
            endpoint = f"{probe.get('host')}:{probe.get('port')}"
            if not probe.get('host'):
                error = probe.get('error') or 'no host configured'
                fix = probe.get('fix') or "restore the terminal's acquirer link configuration"
                findings.append((FAIL, f'acquirer endpoint unknown ({error}): {fix}'))
            elif not probe.get('reachable'):
                error = probe.get('error') or 'no connection'
                findings.append((FAIL, f"acquirer {endpoint} unreachable ({error}): {STAGE_FIX['connect']}"))
            else:
                connect_ms = number(probe.get('connect_ms'))
                if connect_ms is None:
                    connect_ms = 0
                findings.append(high(connect_ms, self.t['network_connect_warn_ms'], None,
                                     f'acquirer {endpoint} reachable, TCP connect', ' ms', '',
                                     'check the store network for congestion'))
            if probe.get('host'):  # the configuration was read: whether it verifies the acquirer is known
                findings.extend(self.tls_verification(probe))
        status, reason = worst(findings)
        return check('network', status, reason, value=connect_ms, latency_ms=connect_ms, details=details)

    @staticmethod
    def tls_verification(probe):
        """A link that does not verify the acquirer's certificate authorises with whoever answers: fail, also
        when the setting is unknown (a platform that does not say is not verified)."""
        verify = probe.get('verify')
        if verify is True:
            return []
        config = probe.get('config') or "the terminal's acquirer link configuration"
        if verify is False:
            what = f'TLS certificate verification of the acquirer is off (verify false in {config})'
        else:
            what = f'TLS certificate verification of the acquirer is not known (no "verify": true in {config})'
        return [(FAIL, f'{what}: {VERIFY_FIX.format(config=config)}')]

    def check_acquirer_transaction(self):
        name = 'acquirer_transaction'
        if name in self.skipped:
            return check(name, NOT_APPLICABLE, self.skipped[name])
        tx = self.transaction
        if tx is None:
            return self.not_tested(name)
        keys = ('approved', 'auth_code', 'tls_version', 'cipher', 'connect_ms', 'handshake_ms', 'response_ms',
                'acquirer', 'stage', 'error')
        details = {k: tx.get(k) for k in keys if k in tx}
        parts = [number(tx.get(k)) for k in ('connect_ms', 'handshake_ms', 'response_ms')]
        total = round(sum(p for p in parts if p is not None), 1) if any(p is not None for p in parts) else None
        details['total_ms'] = total
        if not tx.get('ok', True):
            stage = tx.get('stage') or 'unknown'
            error = str(tx.get('error') or 'no reason given').rstrip('.')
            # The platform's own fix (it knows its paths) before the generic one of the stage.
            fix = tx.get('fix') or STAGE_FIX.get(stage, "check the terminal daemon's log")
            reason = f'test transaction failed at {stage} ({error}): {fix}'
            return check(name, FAIL, reason, value=total, latency_ms=total, details=details)
        if not tx.get('approved'):
            return check(name, FAIL, "test transaction declined by the acquirer: check the terminal's merchant "
                         'configuration with the acquirer', value=total, latency_ms=total, details=details)
        findings = []
        if total is not None:
            findings.append(high(total, self.t['acquirer_warn_ms'], self.t['acquirer_fail_ms'],
                                 'authorisation took', ' ms', "check the store network and the acquirer's service "
                                 'status', 'the acquirer link is slow: check the store network'))
        handshake = number(tx.get('handshake_ms'))
        if handshake is not None:
            status, reason = high(handshake, self.t['tls_handshake_warn_ms'], None, 'TLS handshake took', ' ms',
                                  '', 'check the store network and the acquirer load')
            if status != PASS:
                findings.append((status, reason))
        if not findings or worst(findings)[0] == PASS:
            reason = 'approved'
            if total is not None:
                reason += f' in {fmt(total)} ms'
            if tx.get('tls_version'):
                reason += f" over {tx['tls_version']}"
            if handshake is not None:
                reason += f' (TLS handshake {fmt(handshake)} ms)'
            return check(name, PASS, reason, value=total, latency_ms=total, details=details)
        status, reason = worst(findings)
        return check(name, status, reason, value=total, latency_ms=total, details=details)


def evaluate(model, hardware=None, daemon=None, devices=None, daemon_error=None, probe=None, transaction=None,
             skipped=None, limits=None):
    """All checks for one terminal.

    :param model: ``{model, peripherals: {device: bool}}`` (the platform's ``model()``).
    :param hardware: the live device state (``Platform.peripherals()``), ``None`` when it could not be read.
    :param daemon: ``Platform.daemon_info()`` of a running daemon, ``None`` when the daemon could not be asked.
    :param devices: the daemon's selftest ``devices`` list, ``None`` when not run.
    :param daemon_error: why the daemon could not be asked (makes the ``daemon`` check fail).
    :param probe: TCP probe of the acquirer ``{host, port, reachable, connect_ms, error}``.
    :param transaction: the daemon's test_transaction answer (including ``ok``), ``None`` when not run.
    :param skipped: ``{check name: reason}`` for checks deliberately not run (reported as not_applicable).
    :param limits: threshold overrides (keys of ``DEFAULT_THRESHOLDS``).
    """
    return Evaluator(model, hardware=hardware, daemon=daemon, devices=devices, daemon_error=daemon_error, probe=probe,
                     transaction=transaction, skipped=skipped, limits=limits).run()


def summarize(checks):
    """``{pass, warn, fail, not_applicable, healthy}``; healthy means no check failed (warnings allowed)."""
    summary = dict.fromkeys(STATUSES, 0)
    for item in checks:
        summary[item['status']] += 1
    summary['healthy'] = summary[FAIL] == 0
    return summary


def failing(checks, fail_on='critical'):
    """The checks that fail a task under ``fail_on`` (``critical``, ``any`` or ``never``)."""
    if fail_on == 'never':
        return []
    if fail_on == 'any':
        return [c for c in checks if c['status'] == FAIL]
    if fail_on == 'critical':
        return [c for c in checks if c['status'] == FAIL and c['critical']]
    raise ValueError(f'fail_on must be critical, any or never, not {fail_on!r}')


def should_fail(checks, fail_on='critical'):
    return bool(failing(checks, fail_on))


def failure_message(terminal_id, checks, fail_on='critical'):
    """``terminal X: selftest: 2 checks failed (fail_on=critical): printer: ...; network: ...``."""
    bad = failing(checks, fail_on)
    if not bad:
        return None
    listing = '; '.join(f"{c['name']}: {c['reason']}" for c in bad)
    noun = 'check' if len(bad) == 1 else 'checks'
    return f'terminal {terminal_id}: selftest: {len(bad)} {noun} failed (fail_on={fail_on}): {listing}'

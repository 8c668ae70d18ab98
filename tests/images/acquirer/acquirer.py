#!/usr/bin/python3
"""Acquirer (bank host) simulator for the reference terminals.

TLS server on port 8443 that answers authorisation requests: one JSON line
{"type": "auth", "terminal_id", "amount_minor", "currency", "pan_masked", "training"} in, one JSON line
{"approved", "auth_code", "rrn"} out. On first start it makes its CA and server certificate (CN and SAN
"acquirer") with openssl and publishes the CA certificate as /ca/acquirer-ca.pem (a volume the terminals mount
read-only). Private keys stay in /var/lib/acquirer, never in the shared volume.
"""

import contextlib
import json
import logging
import os
import random
import secrets
import signal
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import warnings

CA_DIR = os.environ.get("ACQUIRER_CA_DIR", "/ca")
KEY_DIR = os.environ.get("ACQUIRER_KEY_DIR", "/var/lib/acquirer")
PORT = int(os.environ.get("ACQUIRER_PORT", "8443"))
DECLINE_RATE = float(os.environ.get("ACQUIRER_DECLINE_RATE", "0.03"))
SERVER_NAME = "acquirer"

log = logging.getLogger("acquirer")


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def publish(path, data, mode=0o644):
    """Atomic: a terminal reading the CA file mid-write must see the old or the new certificate, not half."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.rename(tmp, path)


def ensure_pki():
    os.makedirs(KEY_DIR, mode=0o700, exist_ok=True)
    os.makedirs(CA_DIR, exist_ok=True)
    ca_key, ca_cert = KEY_DIR + "/ca-key.pem", KEY_DIR + "/ca.pem"
    key, cert = KEY_DIR + "/server-key.pem", KEY_DIR + "/server.pem"
    if not all(os.path.exists(p) for p in (ca_key, ca_cert, key, cert)):
        log.info("creating the acquirer CA and server certificate")
        old = os.umask(0o077)
        try:
            openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_cert,
                    "-days", "3650", "-subj", "/O=PosFleet Acquirer Simulator/CN=PosFleet Acquirer Test CA",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign")
            ext = KEY_DIR + "/server.ext"
            with open(ext, "w") as f:
                f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                        "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\n"
                        "authorityKeyIdentifier=keyid,issuer\n"
                        f"subjectAltName=DNS:{SERVER_NAME},DNS:localhost,IP:127.0.0.1\n")
            csr = KEY_DIR + "/server.csr"
            openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj",
                    f"/O=PosFleet Acquirer Simulator/CN={SERVER_NAME}")
            openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
                    "-out", cert, "-days", "825", "-sha256", "-extfile", ext)
        finally:
            os.umask(old)
    # The shared volume may hold another acquirer's CA (a recreated container): publish ours.
    if read(CA_DIR + "/acquirer-ca.pem") != read(ca_cert):
        publish(CA_DIR + "/acquirer-ca.pem", read(ca_cert))
        log.info("published %s/acquirer-ca.pem", CA_DIR)
    if read(CA_DIR + "/acquirer-server.pem") != read(cert):
        publish(CA_DIR + "/acquirer-server.pem", read(cert))
    return cert, key


def tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # Accept old clients on purpose: the terminal's own min_tls decides what is negotiated.
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated, and wanted here all the same
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.load_cert_chain(cert, key)
    return ctx


def decide(req):
    if req.get("type") != "auth":
        return {"approved": False, "error": "unknown request type"}
    amount = req.get("amount_minor")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        return {"approved": False, "response_code": "13", "error": "invalid amount"}
    rrn = f"{random.randint(0, 10**12 - 1):012d}"
    if not req.get("training"):
        if amount > 2_000_000:
            return {"approved": False, "response_code": "61", "rrn": rrn}
        if random.random() < DECLINE_RATE:
            return {"approved": False, "response_code": "05", "rrn": rrn}
    return {"approved": True, "response_code": "00", "auth_code": secrets.token_hex(3).upper(), "rrn": rrn}


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        peer = "{}:{}".format(*self.client_address[:2])
        self.request.settimeout(15)
        try:
            tls = self.server.ctx.wrap_socket(self.request, server_side=True)
        except (OSError, ssl.SSLError) as e:
            log.warning("%s: handshake failed: %s", peer, e)
            return
        try:
            line = tls.makefile("rb").readline(65536)
            try:
                req = json.loads(line)
                if not isinstance(req, dict):
                    raise ValueError("not an object")
                resp = decide(req)
            except ValueError:
                resp = {"approved": False, "error": "malformed request"}
                req = {}
            tls.sendall((json.dumps(resp) + "\n").encode())
            log.info("%s %s %s amount=%s %s training=%s -> %s %s", peer, tls.version(), req.get("terminal_id"),
                     req.get("amount_minor"), req.get("currency"), bool(req.get("training")),
                     "approved" if resp.get("approved") else "declined", resp.get("auth_code") or "")
        except (OSError, ssl.SSLError) as e:
            log.warning("%s: %s", peer, e)
        finally:
            with contextlib.suppress(OSError):
                tls.close()


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s acquirer: %(levelname)s %(message)s")
    cert, key = ensure_pki()
    server = Server(("0.0.0.0", PORT), Handler)
    server.ctx = tls_context(cert, key)

    def stop(_signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("listening on :%d (TLS 1.0 and up accepted)", PORT)
    server.serve_forever(poll_interval=0.5)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

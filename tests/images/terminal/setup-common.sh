#!/usr/bin/env bash
# Image build step shared by every terminal image (runs inside `docker build`, without network).
set -euo pipefail
BUILD=/usr/lib/posfleet/build

# Password ageing for accounts created from here on (PCI DSS 8.3.9).
sed -i -E 's/^(PASS_MAX_DAYS)\s+.*/\1\t90/; s/^(PASS_MIN_DAYS)\s+.*/\1\t1/; s/^(PASS_WARN_AGE)\s+.*/\1\t14/' \
  /etc/login.defs

# Containers may not write /proc/self/loginuid; a required pam_loginuid would refuse every login.
sed -i -E 's/^(session\s+)required(\s+pam_loginuid\.so)/\1optional\2/' /etc/pam.d/*

useradd -m -s /bin/bash -c "PosFleet automation" posadmin
useradd -m -s /bin/bash -c "Field technician" maint
useradd -m -s /bin/bash -c "Cashier" cashier
# posadmin logs in with its key only: no password hash at all ('*' is not a locked account, so sshd with
# UsePAM still lets the key in) and no password ageing that could expire the automation account.
usermod -p '*' posadmin
chage -M -1 -m 0 posadmin
# maint and cashier stay without a password ('!') until first boot gives each a random one (posboot).
install -d -m 0700 -o posadmin -g posadmin /home/posadmin/.ssh
chmod 0440 /etc/sudoers.d/posadmin
visudo -cq

# Firmware bundles shipped with the image; slot a gets the default one, slot b starts empty.
mkdir -p /usr/lib/posfleet/firmware /slots/b
for version in 2.2.0 2.3.1; do
  d=/usr/lib/posfleet/firmware/$version
  install -D -m 0755 "$BUILD/firmware/posd" "$d/bin/posd"
  install -D -m 0755 "$BUILD/firmware/posctl" "$d/bin/posctl"
  echo "$version" >"$d/VERSION"
  python3 - "$d" "$version" <<'PY'
import hashlib, json, os, sys
d, version = sys.argv[1:]
files = {}
for rel in ("bin/posd", "bin/posctl"):
    with open(os.path.join(d, rel), "rb") as f:
        files[rel] = hashlib.sha256(f.read()).hexdigest()
with open(os.path.join(d, "manifest.json"), "w") as f:
    json.dump({"version": version, "models": ["t100", "m200"], "files": files}, f, indent=1, sort_keys=True)
    f.write("\n")
PY
done
cp -a /usr/lib/posfleet/firmware/2.3.1 /slots/a

# The applications are Debian packages, as on a real terminal: posfleet.terminals.software updates them and rolls
# them back (the first update rebuilds the installed version's .deb from dpkg's database). Each tree's manifest
# must name the version its control file gives.
debs=$(mktemp -d)
for tree in "$BUILD"/packages/*/; do
  find "$tree" -type d -exec chmod 0755 {} + && find "$tree" -type f -exec chmod 0644 {} +
  python3 - "$tree" <<'PY'
import glob, json, sys
tree = sys.argv[1]
with open(tree + "DEBIAN/control") as f:
    control = dict(line.split(": ", 1) for line in f.read().splitlines() if ": " in line)
for path in glob.glob(tree + "opt/posapps/*/manifest.json"):
    with open(path) as f:
        if json.load(f)["version"] != control["Version"]:
            sys.exit(f"{path}: its version is not the package's {control['Version']}")
PY
  dpkg-deb --root-owner-group --build "$tree" "$debs/" >/dev/null
done
dpkg --install "$debs"/*.deb >/dev/null
rm -rf "$debs" "$BUILD/packages"

ln -sf /sbin/posboot /usr/sbin/posboot-env
install -d -m 0755 /etc/posfleet/ca /etc/posboot/services.d /var/lib/posboot /var/lib/posd/hw /run/sshd
install -d -m 0750 -g adm /var/log/posd
chmod 0644 /etc/posfleet/acquirer.json /var/lib/posfleet/records.json
touch /var/log/posboot.log /var/log/auth.log
chmod 0640 /var/log/posboot.log /var/log/auth.log
chgrp adm /var/log/posboot.log /var/log/auth.log

# The config must be valid before it ships; the image itself carries no host keys.
ssh-keygen -q -t ed25519 -N '' -f /tmp/hostkey
/usr/sbin/sshd -t -f /etc/ssh/sshd_config -h /tmp/hostkey
rm -f /tmp/hostkey /tmp/hostkey.pub /etc/ssh/ssh_host_*

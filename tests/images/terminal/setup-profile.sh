#!/usr/bin/env bash
# Image build step per profile: `compliant` keeps the hardened baseline; `legacy` adds exactly the deliberate
# PCI violations listed in docs/reference-terminal.md.
set -euo pipefail
profile="$1"
case "$profile" in
  compliant)
    chmod 0644 /etc/logrotate.d/posd
    ;;
  legacy)
    sed -i -E 's/^PermitRootLogin .*/PermitRootLogin yes/; s/^PasswordAuthentication .*/PasswordAuthentication yes/' \
      /etc/ssh/sshd_config
    # The vendor default password, as a field technician would find it on a sticker.
    echo "maint:$(openssl passwd -6 posfleet)" | chpasswd -e
    # No lockout: faillock is out of the PAM stack and its settings are back to the (commented) defaults.
    sed -i -E 's/^([a-z])/# \1/' /etc/security/faillock.conf
    # A world-readable journal: created before posd would create it owner-only.
    install -m 0644 /dev/null /var/lib/posd/journal.db
    chmod 0644 /var/log/posd/debug.log
    chmod 0755 /var/log/posd
    rm -f /etc/logrotate.d/posd
    ;;
  *)
    echo "setup-profile.sh: unknown profile $profile" >&2
    exit 1
    ;;
esac
ssh-keygen -q -t ed25519 -N '' -f /tmp/hostkey
/usr/sbin/sshd -t -f /etc/ssh/sshd_config -h /tmp/hostkey
rm -f /tmp/hostkey /tmp/hostkey.pub

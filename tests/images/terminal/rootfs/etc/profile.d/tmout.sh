# shellcheck shell=sh
# End idle interactive shells after 15 minutes (PCI DSS 8.2.8); readonly so a user cannot lift it.
TMOUT=900
readonly TMOUT
export TMOUT

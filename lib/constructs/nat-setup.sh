#!/bin/bash
# Turns an Amazon Linux 2023 instance into a NAT for the VPC. Safe to run any number of times: user data
# runs it at first boot and installs it as nat-setup.service, which runs it again at every boot and, if
# it fails, every 30 seconds until it succeeds. Every step either checks before it changes or is a no-op
# when repeated. Log: /var/log/nat-setup.log (and the journal: journalctl -u nat-setup).
set -uo pipefail

# retry <attempts> <command…>: runs the command until it succeeds, waiting 2, 4, 8 … up to 60 seconds
# between attempts (RETRY_BASE_DELAY scales the wait; tests set it to 0).
retry() {
  local attempts=$1 n=1 delay=${RETRY_BASE_DELAY:-2}
  shift
  until "$@"; do
    if ((n >= attempts)); then
      echo "nat-setup: giving up after $n attempts: $*" >&2
      return 1
    fi
    echo "nat-setup: attempt $n failed: $*; retrying in ${delay}s" >&2
    sleep "$delay"
    n=$((n + 1))
    delay=$((delay * 2 > 60 ? 60 : delay * 2))
  done
}

setup_nat() {
  # The package mirrors are sometimes unreachable for the first seconds of a launch: retry the install.
  rpm -q iptables-services >/dev/null 2>&1 || retry 10 dnf install -y iptables-services || return 1
  systemctl enable --now iptables || return 1

  echo 'net.ipv4.ip_forward = 1' >/etc/sysctl.d/90-nat.conf
  sysctl -q -p /etc/sysctl.d/90-nat.conf || return 1

  local iface
  iface=$(ip -o route show default | awk '{ print $5; exit }')
  [ -n "$iface" ] || { echo 'nat-setup: no default route yet' >&2; return 1; }
  iptables -t nat -C POSTROUTING -o "$iface" -j MASQUERADE 2>/dev/null ||
    iptables -t nat -A POSTROUTING -o "$iface" -j MASQUERADE || return 1
  # The stock rules REJECT forwarded packets; the security group already admits only the VPC.
  iptables -F FORWARD || return 1
  service iptables save >/dev/null || return 1
  echo "nat-setup: forwarding through $iface"
}

install_service() {
  install -m 0755 "$0" /usr/local/sbin/nat-setup.sh
  cat >/etc/systemd/system/nat-setup.service <<'UNIT'
[Unit]
Description=NAT for the VPC (forwarding and masquerade)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/nat-setup.sh setup
Restart=on-failure
RestartSec=30

[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload
  systemctl enable nat-setup.service
}

case "${1:-first-boot}" in
  setup) setup_nat >>/var/log/nat-setup.log 2>&1 ;;
  first-boot)
    install_service >>/var/log/nat-setup.log 2>&1
    # Runs setup_nat now; if it fails, systemd retries it every 30 s (Restart=on-failure).
    systemctl start --no-block nat-setup.service
    ;;
  functions) ;; # sourced by tests: define the functions, do nothing
esac

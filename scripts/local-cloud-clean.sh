#!/usr/bin/env bash
# Removes what `npm start` made on this machine for its single-machine cloud: the guest containers
# and VM namespaces of the local host, the host and uplink namespaces, and the agent's state directory. Stop the
# manager first. Usage: scripts/local-cloud-clean.sh [name]   (name: FLOTILLA_LOCAL_NAME, default flt)
set -euo pipefail
name=${1:-${FLOTILLA_LOCAL_NAME:-flt}}
[[ $name =~ ^flt(-[a-z0-9]{1,12})?$ ]] || { echo "bad name: $name" >&2; exit 2; }
if [ "$name" = flt ]; then tag=locl; else tag=$(printf %s "$name" | sha256sum | cut -c1-4); fi
state="/run/flotilla/agent-$tag"
# Guest VMs are runc containers (agent/README.md): delete them (their cgroups go with them; each
# console relay ends with its container's terminal) before their namespaces.
if [ -d "$state/runc" ] && command -v runc >/dev/null; then
  for id in $(ls "$state/runc"); do runc --root "$state/runc" delete --force "$id" || true; done
fi
# System VMs' links to the manager run on the host side (agent/README.md): stop each by its pid,
# if that pid is still the link (its command line names the VM's manager.sock).
for f in "$state"/vms/*/pids.json; do
  [ -f "$f" ] || continue
  pid=$(grep -o '"link":[0-9]*' "$f" | cut -d: -f2 || true)
  if [ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "$(dirname "$f")/manager.sock"; then kill -9 "$pid" || true; fi
done
for ns in $(ip netns list | awk '{print $1}' | grep -E "^flt-vm-${tag}-" || true); do
  ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  ip netns del "$ns"
  rm -rf "/etc/netns/$ns"
done
for ns in "$name-host" "$name-uplink"; do
  if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns"
  fi
done
# Guest root filesystems (overlays) and persisted user namespaces are mounts under the state
# directory: unmount them (deepest first) before removing it.
if [ -d "$state" ]; then
  awk -v p="$state/" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount "$m" || umount -l "$m" || true; done
fi
rm -rf "$state"

#!/usr/bin/env bash
# Removes what `npm start` made on this machine for its single-machine cloud: the VM namespaces
# of the local host, the host and uplink namespaces, and the agent's state directory. Stop the
# manager first. Usage: scripts/local-cloud-clean.sh [name]   (name: FLOTILLA_LOCAL_NAME, default flt)
set -euo pipefail
name=${1:-${FLOTILLA_LOCAL_NAME:-flt}}
[[ $name =~ ^flt(-[a-z0-9]{1,12})?$ ]] || { echo "bad name: $name" >&2; exit 2; }
if [ "$name" = flt ]; then tag=locl; else tag=$(printf %s "$name" | sha256sum | cut -c1-4); fi
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
rm -rf "/run/flotilla/agent-$tag"

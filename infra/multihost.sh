#!/usr/bin/env bash
# Several urbangrid "machines" on one Linux box, for trying and measuring a multi-host deployment
# without a cluster: each host is a network namespace with its own interface and address on a
# bridge, as a real machine on a LAN would be. PostgreSQL and RabbitMQ stay where they are on
# this box (on loopback) and are reached from the hosts over the bridge, through a forwarder the
# script runs on the bridge's address.
#
#   infra/multihost.sh up [HOST...]      make the bridge, the hosts and the forwarders
#   infra/multihost.sh run HOST CMD...   run CMD on HOST, with the database and broker URLs set
#   infra/multihost.sh ip HOST           print HOST's address
#   infra/multihost.sh down              remove the hosts, the bridge and the forwarders
#
# Default hosts: api1 api2 (intake API) and wk1 wk2 (workers), as in infra/compose.yaml.
# Needs root (ip netns, ip link) and socat. Environment:
#   MULTIHOST_DB      database name on the local PostgreSQL (default urbangrid)
#   MULTIHOST_VHOST   RabbitMQ vhost (default /)
#   MULTIHOST_ENV     extra VAR=value words passed to every command run on a host
# The hosts share this box's file system, so the grid index folder (URBANGRID_GRID_INDEX_DIR)
# is shared as a network mount would be: the first host to need the index builds it, once.
set -euo pipefail

BRIDGE=ugnet0
NET=10.77.0
HOST_IP=$NET.1
STATE=${MULTIHOST_STATE:-/run/urbangrid-multihost}
DEFAULT_HOSTS=(api1 api2 wk1 wk2)

die() { echo "multihost: $*" >&2; exit 1; }
need_root() { [[ $(id -u) -eq 0 ]] || die "needs root (ip netns)"; }

# A stable address per host name: api1 -> .11, api2 -> .12, wk1 -> .21, wk2 -> .22, others hashed.
host_ip() {
  case $1 in
    api[1-9]) echo "$NET.1${1#api}" ;;
    wk[1-9]) echo "$NET.2${1#wk}" ;;
    *) echo "$NET.$((100 + $(cksum <<<"$1" | cut -d' ' -f1) % 100))" ;;
  esac
}

forward() {  # forward PORT: bridge address -> 127.0.0.1, as the service sees a local client
  local port=$1
  [[ -f $STATE/fwd-$port.pid ]] && kill -0 "$(cat "$STATE/fwd-$port.pid")" 2>/dev/null && return
  # Detached (own session, no terminal): the forwarder outlives this script until 'down'.
  setsid socat "TCP-LISTEN:$port,bind=$HOST_IP,reuseaddr,fork" "TCP:127.0.0.1:$port" \
    </dev/null >>"$STATE/fwd-$port.log" 2>&1 &
  echo $! >"$STATE/fwd-$port.pid"
}

up() {
  need_root
  command -v socat >/dev/null || die "needs socat (apt-get install socat)"
  mkdir -p "$STATE"
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$HOST_IP/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
  fi
  local hosts=("$@")
  [[ ${#hosts[@]} -gt 0 ]] || hosts=("${DEFAULT_HOSTS[@]}")
  for host in "${hosts[@]}"; do
    local ns=ug-$host
    if ip netns list | grep -qw "$ns"; then continue; fi
    ip netns add "$ns"
    ip link add "ug-$host" type veth peer name eth0 netns "$ns"
    ip link set "ug-$host" master "$BRIDGE" up
    ip -n "$ns" addr add "$(host_ip "$host")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" route add default via "$HOST_IP"
    echo "$host" >>"$STATE/hosts"
  done
  forward 5432
  forward 5672
  for host in "${hosts[@]}"; do
    local port tries
    for port in 5432 5672; do
      for tries in $(seq 1 20); do  # the forwarders take a moment to listen on a busy box
        ip netns exec "ug-$host" bash -c "exec 3<>/dev/tcp/$HOST_IP/$port" 2>/dev/null && break
        [[ $tries -lt 20 ]] || die "$host cannot reach $HOST_IP:$port"
        sleep 0.5
      done
    done
    echo "host $host at $(host_ip "$host") reaches PostgreSQL and RabbitMQ at $HOST_IP"
  done
}

run() {
  need_root
  local host=$1
  shift
  ip netns list | grep -qw "ug-$host" || die "no host $host: run '$0 up' first"
  local db=${MULTIHOST_DB:-urbangrid} vhost=${MULTIHOST_VHOST:-/}
  [[ $vhost == / ]] && vhost=%2F
  # shellcheck disable=SC2086  # MULTIHOST_ENV is a list of VAR=value words
  exec ip netns exec "ug-$host" env \
    URBANGRID_DATABASE_URL="postgresql+psycopg://postgres@$HOST_IP:5432/$db" \
    URBANGRID_BROKER_URL="amqp://guest:guest@$HOST_IP:5672/$vhost" \
    URBANGRID_API_HOST="$(host_ip "$host")" \
    ${MULTIHOST_ENV:-} "$@"
}

down() {
  need_root
  if [[ -f $STATE/hosts ]]; then
    while read -r host; do
      ip netns del "ug-$host" 2>/dev/null || true
      ip link del "ug-$host" 2>/dev/null || true
    done <"$STATE/hosts"
    rm -f "$STATE/hosts"
  fi
  for pidfile in "$STATE"/fwd-*.pid; do
    [[ -f $pidfile ]] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
  ip link del "$BRIDGE" 2>/dev/null || true
}

case ${1:-} in
  up) shift; up "$@" ;;
  run) shift; [[ $# -ge 2 ]] || die "usage: $0 run HOST CMD..."; run "$@" ;;
  ip) host_ip "${2:?usage: $0 ip HOST}" ;;
  down) down ;;
  *) die "usage: $0 up [HOST...] | run HOST CMD... | ip HOST | down" ;;
esac

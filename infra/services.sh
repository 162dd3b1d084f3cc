#!/usr/bin/env bash
# Bring up the production services on Debian where missing: PostgreSQL 15 with PostGIS 3, and
# RabbitMQ. Used by `make test` (integration tests) and by a single-machine production install.
# Without root or apt (a laptop), it says what is missing and leaves the tests to skip.
set -uo pipefail

have_root_apt() { [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; }
updated=0
apt_install() {
  if ! have_root_apt; then
    echo "services: cannot install $* (needs root and apt-get)" >&2
    return 1
  fi
  if [[ $updated -eq 0 ]]; then apt-get update -qq && updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# PostgreSQL + PostGIS
if ! command -v pg_lsclusters >/dev/null; then
  apt_install postgresql postgresql-contrib || true
fi
if command -v pg_lsclusters >/dev/null; then
  pg_version=$(pg_lsclusters -h 2>/dev/null | awk 'NR==1 {print $1}')
  pg_version=${pg_version:-15}
  if [[ ! -e /usr/share/postgresql/$pg_version/extension/postgis.control ]]; then
    apt_install "postgresql-$pg_version-postgis-3" || true
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    if have_root_apt; then
      pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start 2>/dev/null \
        || pg_ctlcluster "$pg_version" main start || true
    fi
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -h 127.0.0.1 -p 5432 || echo "services: PostgreSQL is not answering on 5432" >&2
fi

# RabbitMQ
rabbit_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
if ! rabbit_up; then
  if ! command -v rabbitmq-server >/dev/null; then apt_install rabbitmq-server || true; fi
  if command -v rabbitmq-server >/dev/null && have_root_apt; then
    rabbitmq-server -detached 2>/dev/null || true
  fi
  for _ in $(seq 1 60); do rabbit_up && break; sleep 1; done
fi
rabbit_up && echo "services: RabbitMQ answers on 5672" || echo "services: RabbitMQ is not answering on 5672" >&2
exit 0

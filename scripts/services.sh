#!/usr/bin/env bash
# Makes PostgreSQL and RabbitMQ answer on 127.0.0.1, whatever state the machine is in:
# nothing happens when both already run; an installed but stopped service is started;
# a missing one is installed from Debian's packages first. Then the `hubsync` role and
# database exist. Quiet on success; on failure, one clear line on stderr and exit 1.
#
# Debian without systemd is the target (CI machines and pods' dev boxes have no init),
# which is why services are started with their own tools, not `service`/`systemctl`.
set -euo pipefail

PG_PORT=${PG_PORT:-5432}
AMQP_PORT=${AMQP_PORT:-5672}
DB_USER=${HUBSYNC_DB_USER:-hubsync}
DB_PASSWORD=${HUBSYNC_DB_PASSWORD:-hubsync}
DB_NAME=${HUBSYNC_DB_NAME:-hubsync}

fail() { echo "services: $*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 && SUDO="sudo" || SUDO="__none__"
fi
as_root() {
  [ "$SUDO" = "__none__" ] && fail "need root (or sudo) to $*"
  $SUDO "$@"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port seconds what
  local i
  for ((i = 0; i < $2 * 5; i++)); do port_open "$1" && return 0; sleep 0.2; done
  fail "$3 did not open 127.0.0.1:$1 within $2 s"
}

apt_install() {
  command -v apt-get >/dev/null 2>&1 || fail "$* missing and apt-get unavailable: install it by hand"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq >/dev/null || fail "apt-get update failed"
  # postinst cannot start services without systemd; we start them below
  as_root apt-get install -y -qq "$@" >/dev/null 2>&1 || fail "apt-get install $* failed"
}

# ---- PostgreSQL --------------------------------------------------------------------
pg_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }

if ! pg_isready -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null; then
  if [ -z "$(pg_version)" ] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt_install postgresql
  fi
  ver=$(pg_version)
  [ -n "$ver" ] || fail "postgresql installed but no cluster under /etc/postgresql"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main status >/dev/null 2>&1 \
    || as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start >/dev/null \
    || fail "pg_ctlcluster $ver main start failed (see /var/log/postgresql/)"
  for _ in $(seq 1 150); do pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break; sleep 0.2; done
  pg_isready -q -h 127.0.0.1 -p "$PG_PORT" || fail "PostgreSQL is not accepting connections on 127.0.0.1:$PG_PORT"
fi

# Runs the SQL on stdin as the postgres superuser over the local socket.
psql_admin() {
  if [ "$(id -u)" -eq 0 ]; then
    su postgres -c "psql -p $PG_PORT -v ON_ERROR_STOP=1 -qtAX"
  else
    as_root -u postgres psql -p "$PG_PORT" -v ON_ERROR_STOP=1 -qtAX
  fi
}

# Only touch roles when our login does not work yet, so a tuned machine is left alone.
if ! PGPASSWORD=$DB_PASSWORD psql -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" -d "$DB_NAME" -qtAX -c 'select 1' >/dev/null 2>&1; then
  psql_admin <<SQL >/dev/null || fail "could not create role/database $DB_USER/$DB_NAME"
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
    CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASSWORD' CREATEDB;
  ELSE
    ALTER ROLE $DB_USER LOGIN PASSWORD '$DB_PASSWORD' CREATEDB;
  END IF;
END \$\$;
SQL
  if [ "$(echo "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'" | psql_admin)" != "1" ]; then
    echo "CREATE DATABASE $DB_NAME OWNER $DB_USER" | psql_admin >/dev/null || fail "could not create database $DB_NAME"
  fi
  PGPASSWORD=$DB_PASSWORD psql -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" -d "$DB_NAME" -qtAX -c 'select 1' >/dev/null 2>&1 \
    || fail "cannot log in as $DB_USER on 127.0.0.1:$PG_PORT/$DB_NAME (check pg_hba.conf)"
fi

# ---- RabbitMQ ----------------------------------------------------------------------
if ! port_open "$AMQP_PORT"; then
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    fresh=1
    apt_install rabbitmq-server
  fi
  if [ "${fresh:-0}" = 1 ]; then
    # A fresh install listens on every interface and names the node after the host;
    # bind to loopback and use a fixed node name so the broker works on any hostname.
    as_root sh -c 'cat > /etc/rabbitmq/rabbitmq-env.conf' <<'CONF'
NODENAME=rabbit@localhost
NODE_IP_ADDRESS=127.0.0.1
export ERL_EPMD_ADDRESS=127.0.0.1
CONF
    as_root sh -c 'cat > /etc/rabbitmq/rabbitmq.conf' <<CONF
listeners.tcp.default = 127.0.0.1:$AMQP_PORT
CONF
  fi
  # A stale pid file from an unclean stop makes the new node refuse to start.
  as_root rm -f /var/lib/rabbitmq/mnesia/*.pid
  as_root rabbitmq-server -detached >/dev/null 2>&1 || fail "rabbitmq-server -detached failed (see /var/log/rabbitmq/)"
  wait_port "$AMQP_PORT" 90 "RabbitMQ"
fi

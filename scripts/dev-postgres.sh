#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for taskorch's PostgreSQL tests (feature
# `postgres`), for a developer and for CI (.ci/run uses it).
#
#   eval "$(scripts/dev-postgres.sh start)"   # prints the exports below
#   cargo test --all-features store::postgres  # tests read TASKORCH_TEST_PG_URL
#   scripts/dev-postgres.sh stop "$TASKORCH_PG_DIR"
#
# `start` makes a temp dir, runs initdb there (as the `postgres` user when
# run as root: the server refuses to run as root), starts the server on a
# free port of 127.0.0.1 with its unix socket in that dir (trust auth,
# fsync off: test data only), and prints
#   export TASKORCH_TEST_PG_URL=postgres://postgres@127.0.0.1:PORT/postgres
#   export TASKORCH_PG_DIR=/tmp/taskorch-pg.XXXXXX
# `stop DIR` stops that server and deletes DIR. Each test creates its own
# database in the cluster, so tests run in parallel.
#
# Needs the PostgreSQL server binaries (Debian: `apt-get install
# postgresql`); set PG_BIN to their directory if they are elsewhere.
set -euo pipefail

pg_bin() {
    if [[ -n "${PG_BIN:-}" ]]; then
        echo "$PG_BIN"
        return
    fi
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -z "$dir" ]] && command -v pg_ctl >/dev/null; then
        dir=$(dirname "$(command -v pg_ctl)")
    fi
    if [[ -z "$dir" || ! -x "$dir/initdb" ]]; then
        echo "dev-postgres: no PostgreSQL server binaries found (apt-get install postgresql, or set PG_BIN)" >&2
        exit 1
    fi
    echo "$dir"
}

# Run as the owner of the cluster: `postgres` when we are root.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    local port
    for _ in $(seq 1 100); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    echo "dev-postgres: no free port found" >&2
    exit 1
}

start() {
    local bin dir port
    bin=$(pg_bin)
    dir=$(mktemp -d /tmp/taskorch-pg.XXXXXX)
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres "$dir"
    fi
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    # Another start may take the port between our probe and the bind: try
    # a few ports before giving up.
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" \
            start >/dev/null; then
            echo "export TASKORCH_TEST_PG_URL=postgres://postgres@127.0.0.1:$port/postgres"
            echo "export TASKORCH_PG_DIR=$dir"
            return
        fi
    done
    cat "$dir/server.log" >&2
    exit 1
}

stop() {
    local dir=${1:?usage: dev-postgres.sh stop DIR}
    local bin
    bin=$(pg_bin)
    if [[ -d "$dir/data" ]]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    *)
        echo "usage: $0 start | stop DIR" >&2
        exit 2
        ;;
esac

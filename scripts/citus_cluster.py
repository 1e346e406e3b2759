"""A throw-away Citus cluster on this machine: a coordinator and N workers on loopback ports.

Used by the Citus test run (tests/citus) and by bench/citus.py. Each node is an `initdb` data directory
in a temporary folder with `shared_preload_libraries = 'citus'`; the extension comes from
`../shared/engines/build-citus.sh` (`make citus`). Run as root, the servers run as the `postgres` user,
because PostgreSQL refuses to run as root.

    python scripts/citus_cluster.py start --workers 2 --port 25432   # prints the DATABASE_URL
    python scripts/citus_cluster.py stop --dir <the folder start printed>
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "shared_preload_libraries": "'citus'",
    "max_connections": "300",
    # A test cluster: durability buys nothing here and fsync costs seconds per test.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    # The shard rebalancer moves shards by logical replication.
    "wal_level": "logical",
    "max_replication_slots": "20",
    "max_wal_senders": "20",
    "citus.shard_count": "8",
    # Shards left behind by a move are dropped when asked (citus_cleanup_orphaned_resources), not by the
    # maintenance daemon at a moment of its choosing, whose locks then meet the next test's TRUNCATE.
    "citus.defer_shard_delete_interval": "-1",
    "citus.max_adaptive_executor_pool_size": "4",
    "log_min_messages": "warning",
}


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"{name} not found: install PostgreSQL's server binaries")
    return found[-1]


def citus_installed() -> bool:
    pg_config = pg_bin("pg_config")
    libdir = subprocess.run([pg_config, "--pkglibdir"], capture_output=True, text=True, check=True).stdout.strip()
    return Path(libdir, "citus.so").exists()


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class Node:
    name: str
    port: int
    datadir: Path

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"


@dataclass
class Cluster:
    base: Path
    coordinator: Node
    workers: list[Node] = field(default_factory=list)

    @property
    def nodes(self) -> list[Node]:
        return [self.coordinator, *self.workers]

    def url(self, dbname: str) -> str:
        return self.coordinator.dsn(dbname)


def _init_node(node: Node) -> None:
    node.datadir.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(node.datadir.parent, "postgres")
        shutil.chown(node.datadir, "postgres")
    subprocess.run(_as_postgres([pg_bin("initdb"), "-D", str(node.datadir), "-U", "postgres", "--auth=trust",
                                 "-E", "UTF8", "--locale=C", "--no-sync"]), check=True, capture_output=True)
    settings = {**SERVER_SETTINGS, "port": str(node.port), "unix_socket_directories": f"'{node.datadir}'"}
    with open(node.datadir / "postgresql.conf", "a") as conf:
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())


def _start_node(node: Node) -> None:
    log = node.datadir / "server.log"
    result = subprocess.run(_as_postgres([pg_bin("pg_ctl"), "-D", str(node.datadir), "-l", str(log), "-w",
                                          "-t", "60", "start"]), capture_output=True, text=True)
    if result.returncode != 0:
        tail = log.read_text()[-2000:] if log.exists() else result.stderr
        raise RuntimeError(f"{node.name} on port {node.port} did not start:\n{tail}")


def start_node(base: Path, name: str, port: int) -> Node:
    node = Node(name, port, base / name)
    _init_node(node)
    _start_node(node)
    _allow_citus_decoding(node)
    return node


def _allow_citus_decoding(node: Node) -> None:
    """Shard moves (rebalance, tenant isolation) decode the WAL through Citus's own output plugin; PostgreSQL
    releases with `output_plugin_libraries` (15.20 here) load only the plugins it lists."""
    with psycopg.connect(node.dsn(), autocommit=True) as conn:
        row = conn.execute("SELECT setting FROM pg_settings WHERE name = 'output_plugin_libraries'").fetchone()
        if row is not None and "citus" not in row[0]:
            plugins = [p.strip() for p in row[0].split(",") if p.strip()] + ["citus"]
            conn.execute("ALTER SYSTEM SET output_plugin_libraries = " + ", ".join(f"'{p}'" for p in plugins))
            conn.execute("SELECT pg_reload_conf()")


def create_database(cluster: Cluster, dbname: str) -> None:
    """The database on every node with the extension, and the workers registered on the coordinator."""
    for node in cluster.nodes:
        with psycopg.connect(node.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{dbname}"')
        with psycopg.connect(node.dsn(dbname), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION citus")
    with psycopg.connect(cluster.coordinator.dsn(dbname), autocommit=True) as conn:
        conn.execute("SELECT citus_set_coordinator_host('127.0.0.1', %s)", [cluster.coordinator.port])
        for worker in cluster.workers:
            add_worker(conn, worker)


def add_worker(conn, worker: Node) -> None:
    conn.execute("SELECT citus_add_node('127.0.0.1', %s)", [worker.port])


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        # As PostgreSQL binds: connections of a server just stopped may linger in TIME_WAIT on the port.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start(workers: int = 2, port: int = 25432, base: Path | None = None) -> Cluster:
    """Ports from `port`: keep them below the kernel's ephemeral range (32768 up on Linux), where an outgoing
    connection may hold any port for a moment and a server then fails to bind it."""
    if not citus_installed():
        raise RuntimeError("the Citus extension is not installed: run `make citus`")
    taken = [p for p in range(port, port + workers + 1) if not port_free(p)]
    if taken:
        raise RuntimeError(f"ports {taken} are in use (a cluster left running?): stop it or choose another --port")
    base = Path(base or tempfile.mkdtemp(prefix="o2c-citus-"))
    cluster = Cluster(base, start_node(base, "coordinator", port))
    try:
        for i in range(workers):
            cluster.workers.append(start_node(base, f"worker{i + 1}", port + 1 + i))
    except Exception:
        stop(cluster)
        raise
    return cluster


def stop(cluster: Cluster | Path) -> None:
    base = cluster.base if isinstance(cluster, Cluster) else Path(cluster)
    for datadir in sorted(p.parent for p in base.glob("*/postgresql.conf")):
        subprocess.run(_as_postgres([pg_bin("pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w", "stop"]),
                       capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


def wait_until_ready(node: Node, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(node.dsn(), connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("start")
    up.add_argument("--workers", type=int, default=2)
    up.add_argument("--port", type=int, default=25432)
    up.add_argument("--database", default="o2c")
    down = sub.add_parser("stop")
    down.add_argument("--dir", required=True)
    args = parser.parse_args()
    if args.command == "stop":
        stop(Path(args.dir))
        return
    cluster = start(args.workers, args.port)
    create_database(cluster, args.database)
    print(f"cluster in {cluster.base}")
    print(f"DATABASE_URL={cluster.url(args.database)}")


if __name__ == "__main__":
    main()

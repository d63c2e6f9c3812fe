"""A real ``redis-server`` for the tests, started on a free port (never the machine's own)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

# redis-py is imported where a Cluster, Sentinel or TLS server is driven, not here: this module
# is imported by tests/conftest.py, which the core's smoke suite (scripts/smoke.sh: a venv with
# the core and the test tools only, no plugin and no redis-py) loads too.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """Start, stop and restart a private redis-server; ``url`` stays the same across restarts."""

    def __init__(self, port: int | None = None, extra_args: Sequence[str] = ()) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed: run `make test` (it installs Debian's redis-server "
                "when run as root) or `sudo apt-get install redis-server`, or set AREION_TEST_REDIS_URL"
            )
        self.binary = binary
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tempfile.mkdtemp(prefix="areion-redis-")
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--daemonize", "no", "--loglevel", "warning", *self.extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def external_url() -> str | None:
    return os.environ.get("AREION_TEST_REDIS_URL") or None


# --- Redis Cluster and Sentinel ----------------------------------------------------------------
# Both are started only by the tests that ask for them (session fixtures in tests/conftest.py),
# on free ports in a temporary folder, and stopped at the end of the session.

def _require(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise RuntimeError(f"{binary} is not installed: run `make system-deps` as root or "
                           f"`sudo apt-get install {package}`")
    return path


def _free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def _command(port: int, *args: str) -> Any:
    """One command to the server on ``port``, on a connection closed at once."""
    import redis

    with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=2) as client:
        return client.execute_command(*args)


def _info(port: int, section: str) -> dict[str, str]:
    """``INFO <section>`` (or ``CLUSTER INFO`` for ``cluster``) as text fields."""
    text = _command(port, "CLUSTER", "INFO") if section == "cluster" else _command(port, "INFO", section)
    if isinstance(text, bytes):
        text = text.decode()
    if isinstance(text, dict):
        return {str(k): str(v) for k, v in text.items()}
    return dict(line.split(":", 1) for line in str(text).splitlines() if ":" in line)


def _wait(what: str, ready: Callable[[], bool], timeout: float) -> None:
    """Poll ``ready`` (errors count as not yet) until it is true, or fail naming ``what``."""
    import redis

    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except (redis.RedisError, OSError) as exc:
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what} (last error: {last!r})")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class RedisCluster:
    """A Redis Cluster of ``primaries`` primaries with one replica each, on free ports.

    Each node is ``redis-server --cluster-enabled yes`` with its cluster bus on a free port
    of its own (``--cluster-port``, so the usual port + 10000 need not be free); ``redis-cli
    --cluster create`` assigns the slots, and ``start`` returns when every node says
    ``cluster_state:ok``.
    """

    #: How many times ``start`` builds the cluster, on new nodes, before it gives up.
    ATTEMPTS = 3

    def __init__(self, primaries: int = 3) -> None:
        self.server = _require("redis-server", "redis-server")
        self.cli = _require("redis-cli", "redis-tools")
        self.count = primaries * 2
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self._new_nodes()

    def _new_nodes(self) -> None:
        ports = _free_ports(self.count * 2)
        self.ports, self.bus_ports = ports[: self.count], ports[self.count:]
        self.dir = tempfile.mkdtemp(prefix="areion-redis-cluster-")

    @property
    def nodes(self) -> list[str]:
        """``host:port`` of every node, for a ``nodes = [...]`` setting."""
        return [f"127.0.0.1:{port}" for port in self.ports]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(self.nodes)

    def _spawn(self, port: int) -> None:
        bus = self.bus_ports[self.ports.index(port)]
        # The node's identity and its view of the cluster live in nodes-<port>.conf: a node
        # started again on the same port rejoins the cluster it was in.
        self.procs[port] = subprocess.Popen(
            [self.server, "--port", str(port), "--cluster-port", str(bus), "--bind", "127.0.0.1",
             "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
             "--cluster-node-timeout", "1000", "--save", "", "--appendonly", "no",
             # A replica's full sync starts at once, not after Redis 7's default 5 s wait.
             "--repl-diskless-sync-delay", "0",
             "--dir", self.dir, "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        """Build the cluster; one whose nodes never agree is built again, on new nodes and
        ports, up to ``ATTEMPTS`` times. (A CI run once saw ``redis-cli --cluster create`` wait
        60 s for the nodes to join, every node answering: with a 1 s node timeout, a loaded
        machine can drop a MEET handshake, and redis-cli waits for it for ever.)"""
        for attempt in range(1, self.ATTEMPTS + 1):
            try:
                self._create()
                return
            except (RuntimeError, subprocess.TimeoutExpired):
                if attempt == self.ATTEMPTS:
                    raise
                self.close()
                self._new_nodes()

    def _create(self) -> None:
        for port in self.ports:
            self._spawn(port)
        for port in self.ports:
            _wait(f"cluster node {port} to answer", lambda port=port: bool(_command(port, "PING")), 10)
        created = subprocess.run(
            [self.cli, "--cluster", "create", *self.nodes, "--cluster-replicas", "1", "--cluster-yes"],
            capture_output=True, text=True, timeout=30, check=False,
        )
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{created.stdout}\n{created.stderr}")
        self._wait_ok(self.ports)

    def _wait_ok(self, ports: list[int], timeout: float = 30) -> None:
        """Every node in ``ports`` says cluster_state:ok, and every replica among them is in sync
        (a failover needs a replica that has the data)."""
        for port in ports:
            _wait(f"cluster_state:ok on node {port}",
                  lambda port=port: _info(port, "cluster").get("cluster_state") == "ok", timeout)
        for port in ports:
            _wait(f"node {port} to be a primary or a replica in sync", lambda port=port: (
                _info(port, "replication").get("role") == "master"
                or _info(port, "replication").get("master_link_status") == "up"), timeout)

    def roles(self) -> dict[int, int | None]:
        """Each live node's port -> the port of its primary (None for a primary), from CLUSTER NODES."""
        live = next(port for port, proc in self.procs.items() if proc.poll() is None)
        text = _command(live, "CLUSTER", "NODES")
        if isinstance(text, bytes):
            text = text.decode()
        rows = [line.split() for line in str(text).splitlines() if line.strip()]
        port_of = {row[0]: int(row[1].split("@")[0].rsplit(":", 1)[1]) for row in rows}
        return {port_of[row[0]]: (None if row[3] == "-" else port_of[row[3]])
                for row in rows if "fail" not in row[2]}

    def failover_by_killing_primary(self, port: int, timeout: float = 20) -> int:
        """Kill the primary on ``port`` (SIGKILL); return its replica's port once that replica is
        primary and every live node says ``cluster_state:ok``. The killed node is then started
        again and rejoins as a replica, so the cluster has 3 primaries and 3 replicas again."""
        replica = next(node for node, primary in self.roles().items() if primary == port)
        proc = self.procs[port]
        proc.kill()
        proc.wait()
        _wait(f"replica {replica} to become primary", lambda: _info(replica, "replication").get("role") == "master",
              timeout)
        self._wait_ok([p for p in self.ports if p != port], timeout)
        self._spawn(port)
        _wait(f"node {port} to rejoin as a replica", lambda: _info(port, "replication").get("role") == "slave", timeout)
        self._wait_ok(self.ports, timeout)
        return replica

    def close(self) -> None:
        for proc in self.procs.values():
            _stop(proc)
        self.procs.clear()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisCluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RedisSentinel:
    """A primary, a replica and three sentinels (quorum 2) watching them as ``service``.

    The sentinels are Debian's ``redis-sentinel`` when installed, else ``redis-server
    --sentinel`` (the same binary). A primary is judged down after 1 s
    (``down-after-milliseconds``), so ``failover_by_killing_primary`` takes a few seconds.
    """

    service = "mymaster"

    def __init__(self) -> None:
        # A replica's full sync starts at once, not after Redis 7's default 5 s wait.
        fast_sync = ["--repl-diskless-sync-delay", "0"]
        self.primary = RedisServer(extra_args=fast_sync)
        self.replica = RedisServer(extra_args=[*fast_sync, "--replicaof", "127.0.0.1", str(self.primary.port)])
        sentinel = shutil.which("redis-sentinel")
        self.sentinel_command = [sentinel] if sentinel else [_require("redis-server", "redis-server"), "--sentinel"]
        self.sentinel_ports = _free_ports(3)
        self.dir = tempfile.mkdtemp(prefix="areion-redis-sentinel-")
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def sentinels(self) -> list[str]:
        """``host:port`` of every sentinel, for a ``sentinels = [...]`` setting."""
        return [f"127.0.0.1:{port}" for port in self.sentinel_ports]

    @property
    def url(self) -> str:
        return f"redis+sentinel://{','.join(self.sentinels)}/{self.service}/0"

    def primary_port(self, sentinel_port: int | None = None) -> int:
        """The primary's port as a sentinel (the first, by default) reports it."""
        _host, port = _command(sentinel_port or self.sentinel_ports[0],
                               "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
        return int(port)

    def config_epoch(self, sentinel_port: int | None = None) -> int:
        """The service's configuration epoch as a sentinel (the first, by default) reports it:
        one more for each failover the sentinels carried out."""
        master = _command(sentinel_port or self.sentinel_ports[0], "SENTINEL", "MASTER", self.service)
        info = master if isinstance(master, dict) else dict(zip(master[::2], master[1::2], strict=True))
        return int(info[b"config-epoch"])

    def start(self) -> None:
        self.primary.start()
        self.replica.start()
        _wait("the replica to sync", lambda: _info(self.replica.port, "replication")
              .get("master_link_status") == "up", 10)
        for port in self.sentinel_ports:
            config = os.path.join(self.dir, f"sentinel-{port}.conf")
            with open(config, "w", encoding="utf-8") as f:  # the sentinel rewrites it: one each
                f.write(f"port {port}\nbind 127.0.0.1\ndaemonize no\nloglevel warning\ndir {self.dir}\n"
                        f"sentinel monitor {self.service} 127.0.0.1 {self.primary.port} 2\n"
                        f"sentinel down-after-milliseconds {self.service} 1000\n"
                        f"sentinel failover-timeout {self.service} 3000\n"
                        f"sentinel parallel-syncs {self.service} 1\n")
            argv = [self.sentinel_command[0], config, *self.sentinel_command[1:]]
            self.procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self._wait_settled(self.primary.port)

    def _wait_settled(self, primary: int) -> None:
        # A failover needs the sentinels to know the replica and each other (hello messages
        # every 2 s): before that, killing the primary would not be repaired.
        def settled(port: int) -> bool:
            master = _command(port, "SENTINEL", "MASTER", self.service)
            info = master if isinstance(master, dict) else dict(zip(master[::2], master[1::2], strict=True))
            return (int(info[b"port"]) == primary and int(info[b"num-slaves"]) >= 1
                    and int(info[b"num-other-sentinels"]) == 2 and b"down" not in info[b"flags"])

        for port in self.sentinel_ports:
            _wait(f"sentinel {port} to see the primary {primary}, a replica and the other sentinels",
                  lambda port=port: settled(port), 20)

    def failover_by_killing_primary(self, timeout: float = 20) -> int:
        """Kill the primary (SIGKILL), wait until every sentinel reports the replica as primary.

        Then the old primary is started again as a replica of the new one, so the setup has a
        primary and a replica again for the next test. Returns the new primary's port.
        """
        if self.primary_port() == self.replica.port:
            # The sentinels failed over again after the last call returned (a loaded machine:
            # see tests/plugins/scheduling/test_scheduling_failover.py): follow them.
            self.primary, self.replica = self.replica, self.primary
            _wait("the replica to sync", lambda: _info(self.replica.port, "replication")
                  .get("master_link_status") == "up", 20)
        old, new = self.primary, self.replica
        assert old.proc is not None
        old.proc.kill()
        old.proc.wait()
        old.proc = None
        for port in self.sentinel_ports:
            _wait(f"sentinel {port} to report {new.port} as the primary",
                  lambda port=port: self.primary_port(port) == new.port, timeout)
        _wait(f"{new.port} to be a primary", lambda: _info(new.port, "replication").get("role") == "master", 10)
        old.extra_args = ["--repl-diskless-sync-delay", "0", "--replicaof", "127.0.0.1", str(new.port)]
        old.start()
        self.primary, self.replica = new, old
        _wait("the old primary to sync as a replica", lambda: _info(old.port, "replication")
              .get("master_link_status") == "up", 10)
        self._wait_settled(new.port)
        return new.port

    def close(self) -> None:
        for proc in self.procs:
            _stop(proc)
        self.procs.clear()
        self.replica.close()
        self.primary.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisSentinel:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RedisTlsServer:
    """A redis-server that speaks TLS only, with a throw-away CA (trustme) in a temporary folder.

    ``ca_file`` verifies the server (issued for 127.0.0.1); with ``client_certs=True`` the
    server also demands a client certificate, and ``client_cert_file``/``client_key_file``
    hold one the CA signed.
    """

    def __init__(self, client_certs: bool = False) -> None:
        import trustme

        self.binary = _require("redis-server", "redis-server")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="areion-redis-tls-")
        ca = trustme.CA()
        server = ca.issue_cert("127.0.0.1", "localhost")
        client = ca.issue_cert("areion-client")
        self.ca_file = os.path.join(self.dir, "ca.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        self.cert_file, self.key_file = os.path.join(self.dir, "server.pem"), os.path.join(self.dir, "server.key")
        server.cert_chain_pems[0].write_to_path(self.cert_file)
        server.private_key_pem.write_to_path(self.key_file)
        self.client_cert_file = os.path.join(self.dir, "client.pem")
        self.client_key_file = os.path.join(self.dir, "client.key")
        client.cert_chain_pems[0].write_to_path(self.client_cert_file)
        client.private_key_pem.write_to_path(self.client_key_file)
        self.client_certs = client_certs
        self.url = f"rediss://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
             "--tls-cert-file", self.cert_file, "--tls-key-file", self.key_file, "--tls-ca-cert-file", self.ca_file,
             "--tls-auth-clients", "yes" if self.client_certs else "no",
             "--save", "", "--appendonly", "no", "--dir", self.dir, "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

        def answers() -> bool:
            import redis

            with redis.Redis(host="127.0.0.1", port=self.port, ssl=True, ssl_ca_certs=self.ca_file,
                             ssl_certfile=self.client_cert_file, ssl_keyfile=self.client_key_file,
                             socket_timeout=2, socket_connect_timeout=2) as client:
                return bool(client.ping())

        _wait(f"redis-server with TLS on port {self.port}", answers, 10)

    def close(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisTlsServer:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

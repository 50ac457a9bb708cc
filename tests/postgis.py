"""A throw-away PostgreSQL/PostGIS cluster: started for a test session (or a benchmark), removed after.

The cluster lives in a temporary folder (data, log and Unix socket), listens on 127.0.0.1 on a free port,
and runs as the ``postgres`` user when we are root (PostgreSQL refuses to run as root), as the current user
otherwise. fsync is off: nothing in it has to survive a crash. Clients connect over TCP as a password-checked
superuser (scram-sha-256), so that a test can tell a resolved password or authcfg from a missing one; the
set-up itself goes through the socket, which trusts local connections.

Nothing is mocked and nothing is skipped: without PostgreSQL or PostGIS, ``start`` raises with the package to
install. ``stop`` (also registered with atexit) stops the server and removes the folder; a cluster left by a
killed run (its owner process gone) is removed by the next start.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

PREFIX = "crimemapping-pg-"
OWNER_FILE = "owner.pid"
USER = "crimemapping"
PASSWORD = "not-a-real-secret-7Qx"  # a literal test secret: tests grep logs and outputs for it
DATABASE = "crimemapping_test"
TEMPLATE = "crimemapping_template"
_NUMBERS = itertools.count(1)  # database names, unique in this process


def _server_bin() -> Path:
    """Return the bin folder of the newest PostgreSQL that has PostGIS installed."""
    found = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        version = Path(initdb).parent.parent.name
        has_postgis = bool(glob.glob(f"/usr/share/postgresql/{version}/extension/postgis.control"))
        found.append((has_postgis, float(version) if re.fullmatch(r"\d+(\.\d+)?", version) else 0.0, initdb))
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): the PostGIS tests need a real "
            "server. Install the distribution's packages: apt-get install postgresql postgresql-postgis "
            "(make system does)."
        )
    found.sort()
    has_postgis, _, initdb = found[-1]
    if not has_postgis:
        raise RuntimeError(
            f"PostGIS is not installed for PostgreSQL {Path(initdb).parent.parent.name} (no postgis.control under "
            "/usr/share/postgresql): "
            "apt-get install postgresql-postgis (make system does)."
        )
    return Path(initdb).parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class PostgisCluster:
    """One throw-away cluster: connection details, SQL through psql, QGIS URIs and saved connections."""

    host: str = "127.0.0.1"
    port: int = 0
    user: str = USER
    password: str = PASSWORD
    dbname: str = DATABASE
    folder: Optional[Path] = None
    bin: Optional[Path] = None
    _as_postgres: bool = False
    _connections: list = field(default_factory=list)

    # --- life cycle ---------------------------------------------------------------------------------------

    def start(self) -> PostgisCluster:
        """Create the cluster, start the server and make the PostGIS database; return self."""
        self.bin = _server_bin()
        self._as_postgres = os.geteuid() == 0
        remove_stale_clusters()
        self.folder = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.folder / OWNER_FILE).write_text(str(os.getpid()))
        atexit.register(self.stop)
        try:
            self._init()
            self._start_server()
            self.psql(f"CREATE DATABASE {TEMPLATE}", dbname="postgres")
            self.psql("CREATE EXTENSION postgis", dbname=TEMPLATE)
            self.psql(f"CREATE DATABASE {DATABASE} TEMPLATE {TEMPLATE}", dbname="postgres")
        except BaseException:
            self.stop()
            raise
        return self

    def _run(self, args: list, **kwargs: object) -> subprocess.CompletedProcess:
        """Run a server program, as postgres when we are root (PostgreSQL refuses to run as root)."""
        if self._as_postgres:
            args = ["runuser", "-u", "postgres", "--", *args]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return subprocess.run(
            [str(a) for a in args], cwd=str(self.folder), env=env, capture_output=True, text=True, **kwargs
        )

    def _init(self) -> None:
        data = self.folder / "data"
        pwfile = self.folder / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        done = self._run(
            [
                self.bin / "initdb",
                "-D",
                data,
                "-U",
                self.user,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ]
        )
        pwfile.unlink()
        if done.returncode:
            raise RuntimeError(f"initdb failed in {data}:\n{done.stdout}\n{done.stderr}")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.folder}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            # mmap: no dependence on /dev/shm, which a chroot may lack
            "dynamic_shared_memory_type": "mmap",
            "max_connections": "40",
            "shared_buffers": "64MB",
            "log_min_messages": "warning",
        }
        with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# crimemapping test cluster\n")
            for key, value in settings.items():
                conf.write(f"{key} = {value}\n")

    def _start_server(self) -> None:
        last = ""
        for _ in range(5):  # another process may take the free port between the probe and the start
            self.port = _free_port()
            done = self._run(
                [
                    self.bin / "pg_ctl",
                    "-D",
                    self.folder / "data",
                    "-l",
                    self.folder / "server.log",
                    "-o",
                    f"-p {self.port}",
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            )
            if done.returncode == 0:
                return
            last = done.stdout + done.stderr + self.server_log()
        raise RuntimeError(f"The PostgreSQL test server did not start:\n{last}")

    def server_log(self) -> str:
        """Return the server's log (for failure messages)."""
        log = self.folder / "server.log" if self.folder else None
        return log.read_text(errors="replace") if log and log.exists() else ""

    def stop(self) -> None:
        """Stop the server (fast, then immediate) and remove the cluster's folder."""
        if self.folder is None:
            return
        folder, self.folder = self.folder, None
        _stop_folder(folder, self._run_in(folder))
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def _run_in(self, folder: Path):  # noqa: ANN202 - a small closure for _stop_folder
        def run(args: list) -> subprocess.CompletedProcess:
            if self._as_postgres:
                args = ["runuser", "-u", "postgres", "--", *args]
            return subprocess.run([str(a) for a in args], cwd="/", capture_output=True, text=True)

        return run

    # --- SQL -----------------------------------------------------------------------------------------------

    def psql(self, sql: str, dbname: Optional[str] = None) -> str:
        """Run SQL through the socket (trusted) and return psql's unaligned output, one row a line."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        done = subprocess.run(
            [
                str(self.bin / "psql"),
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.folder),
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                dbname or self.dbname,
                "-c",
                sql,
            ],
            env=env,
            capture_output=True,
            text=True,
            cwd="/",
        )
        if done.returncode:
            raise RuntimeError(f"psql failed on {dbname or self.dbname}: {sql}\n{done.stderr}")
        return done.stdout.rstrip("\n")

    def new_database(self, prefix: str = "t") -> str:
        """Create a fresh database with PostGIS (from the template) and return its name."""
        name = f"{prefix}_{os.getpid()}_{next(_NUMBERS)}"
        self.psql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}", dbname="postgres")
        return name

    # --- QGIS ----------------------------------------------------------------------------------------------

    def conninfo(self, dbname: Optional[str] = None, password: bool = True) -> str:
        """Return a libpq connection string (GDAL's PG: takes it too)."""
        parts = [f"host={self.host}", f"port={self.port}", f"dbname={dbname or self.dbname}", f"user={self.user}"]
        if password:
            parts.append(f"password={self.password}")
        return " ".join(parts)

    def uri(
        self,
        table: str = "",
        schema: str = "public",
        geometry: str = "geom",
        dbname: Optional[str] = None,
        password: bool = True,
        authcfg: str = "",
        key: str = "",
    ):  # noqa: ANN201 - QgsDataSourceUri, imported lazily so that benchmarks can start the cluster first
        """Return a QgsDataSourceUri for table (or the database when table is empty)."""
        from qgis.core import QgsDataSourceUri

        uri = QgsDataSourceUri()
        uri.setConnection(
            self.host, str(self.port), dbname or self.dbname, self.user, self.password if password else "", 0, authcfg
        )
        if table:
            uri.setDataSource(schema, table, geometry or None, "", key)
        return uri

    def destination(self, table: str, schema: str = "public", prefix: str = "postgres://", **kwargs) -> str:
        """Return the destination QGIS's output widget gives for a table of a saved connection (password in it)."""
        return prefix + self.uri(table, schema=schema, **kwargs).uri(False)

    def save_connection(self, name: str, dbname: Optional[str] = None, authcfg: str = "") -> str:
        """Save a QGIS PostGIS connection (the Browser's) named name; with authcfg, no password is stored."""
        from qgis.core import QgsProviderRegistry

        metadata = QgsProviderRegistry.instance().providerMetadata("postgres")
        uri = self.uri(dbname=dbname, password=not authcfg, authcfg=authcfg)
        connection = metadata.createConnection(uri.uri(False), {})
        metadata.saveConnection(connection, name)
        self._connections.append(name)
        return name

    def remove_connections(self) -> None:
        """Delete the QGIS connections save_connection made."""
        from qgis.core import QgsProviderRegistry

        metadata = QgsProviderRegistry.instance().providerMetadata("postgres")
        for name in self._connections:
            with contextlib.suppress(Exception):
                metadata.deleteConnection(name)
        self._connections.clear()


def _stop_folder(folder: Path, run) -> None:  # noqa: ANN001
    data = folder / "data"
    if (data / "postmaster.pid").exists():
        bin_dir = _server_bin_or_none()
        if bin_dir is not None:
            done = run([bin_dir / "pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "30", "stop"])
            if done.returncode:
                run([bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "-t", "30", "stop"])
        _kill_postmaster(data)
    shutil.rmtree(folder, ignore_errors=True)


def _server_bin_or_none() -> Optional[Path]:
    try:
        return _server_bin()
    except RuntimeError:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        return Path(found[-1]).parent if found else None


def _kill_postmaster(data: Path) -> None:
    """Kill the postmaster whose pid file is still there after pg_ctl stop (last resort)."""
    pid_file = data / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    if _alive(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGQUIT)
        for _ in range(50):
            if not _alive(pid):
                return
            time.sleep(0.1)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def remove_stale_clusters() -> None:
    """Stop and remove clusters whose owner process has gone (a killed test run); leave live ones alone."""
    for folder in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            owner = int((folder / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # being created right now, or not ours
        if owner == os.getpid() or _alive(owner):
            continue
        as_postgres = os.geteuid() == 0

        def run(args: list, as_postgres: bool = as_postgres) -> subprocess.CompletedProcess:
            if as_postgres:
                args = ["runuser", "-u", "postgres", "--", *args]
            return subprocess.run([str(a) for a in args], cwd="/", capture_output=True, text=True)

        _stop_folder(folder, run)


def start_cluster() -> PostgisCluster:
    """Start a throw-away cluster with a PostGIS database and return it (stop it with .stop())."""
    return PostgisCluster().start()

"""A real Superset 6.1 for the ``superset`` tier: SQLite metadata, an admin with a generated
password, the demo DuckDB built beside it, served by ``superset run`` on 127.0.0.1 (a free
port). Shared by the end-to-end test modules; each module starts its own server (on a copy of
one metadata database migrated once per process), and its timings and log go to
``$SUPERSET_ARTIFACTS`` under the module's own name.

Import only where Superset is installed (the test modules skip first).
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from saas_retention.superset_plugin.demo import (
    _run,
    superset_env,
    superset_executable,
    write_config,
)
from saas_retention.superset_plugin.install import RestClient

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("SUPERSET_ARTIFACTS", ROOT / ".nox" / "artifacts" / "superset"))
PASSWORD_VAR = "SAAS_RETENTION_E2E_PASSWORD"
DEMO_END = dt.date(2025, 12, 31)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_demo(folder: Path, seed: int = 42, name: str = "source.duckdb") -> Path:
    """The demo source (600 customers, 24 months, ``seed``) and its models in
    ``folder/saas_retention.duckdb``."""
    from saas_retention.builders.duckdb.run import build
    from saas_retention.core.config import parse_settings
    from saas_retention.datagen.demo import generate

    generate(str(folder / name), customers=600, months=24, end_date=DEMO_END, seed=seed)
    database = folder / "saas_retention.duckdb"
    build(folder / name, parse_settings({"as_of": DEMO_END}), database=database)
    return database


class Server:
    def __init__(self, folder: Path, database: Path, password: str, port: int, proc):
        self.folder, self.database, self.password = folder, database, password
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = proc
        self.env = superset_env(folder)
        self.exe = superset_executable()

    def api(self) -> RestClient:
        return RestClient(self.url, "admin", self.password)

    def superset_cli(self, *args: str) -> str:
        return _run([self.exe, *args], self.env, f"superset {' '.join(args)}")

    def rest_install_run(self, password: str | None = None,
                         username: str = "admin") -> subprocess.CompletedProcess:
        """``saas-retention superset install`` over REST in a subprocess, output captured."""
        env = {**os.environ, PASSWORD_VAR: self.password if password is None else password}
        return subprocess.run(
            [sys.executable, "-m", "saas_retention.cli", "superset", "install", "--url",
             self.url, "--username", username, "--password-env", PASSWORD_VAR,
             "--database", "saas_retention_demo"], env=env, capture_output=True, text=True)

    def rest_install(self) -> str:
        done = self.rest_install_run()
        assert done.returncode == 0, done.stderr + done.stdout
        assert self.password not in done.stdout + done.stderr
        return done.stdout

    def log_text(self) -> str:
        return (self.folder / "superset.log").read_text(errors="replace")


_TEMPLATE: list[tuple[Path, str]] = []  # (folder, admin password): made once per process


def _metadata_template(timed) -> tuple[Path, str]:
    """A migrated metadata database with its admin and roles (``db upgrade``, ``fab
    create-admin``, ``init``), made once per test process and copied into each server's
    folder: the three commands cost about 30 s a server on a quiet machine, three times that
    beside the other CI lanes. The secret key goes with it (it encrypts the metadata)."""
    if not _TEMPLATE:
        exe = superset_executable()
        folder = Path(tempfile.mkdtemp(prefix="superset_metadata_"))
        atexit.register(shutil.rmtree, folder, True)
        write_config(folder)
        env = superset_env(folder)
        password = secrets.token_urlsafe(12)
        step = time.perf_counter()
        _run([exe, "db", "upgrade"], env, "superset db upgrade")
        timed("superset db upgrade", step)
        step = time.perf_counter()
        _run([exe, "fab", "create-admin", "--username", "admin", "--firstname", "a",
              "--lastname", "b", "--email", "admin@localhost", "--password", password],
             env, "superset fab create-admin")
        timed("superset fab create-admin", step)
        step = time.perf_counter()
        _run([exe, "init"], env, "superset init")
        timed("superset init", step)
        _TEMPLATE.append((folder, password))
    return _TEMPLATE[0]


@contextmanager
def running_superset(folder: Path, timings: dict[str, float], artifact_prefix: str = ""
                     ) -> Iterator[Server]:
    """Set up and serve a Superset in ``folder``; stop it and save its log and the timings
    (``<prefix>timings.json``, ``<prefix>superset.log``) afterwards."""
    exe = superset_executable()

    def timed(name: str, started: float) -> None:
        timings[name] = round(time.perf_counter() - started, 2)

    started = time.perf_counter()
    with ThreadPoolExecutor(1) as pool:
        building = pool.submit(build_demo, folder)
        template, password = _metadata_template(timed)
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("secret_key", "superset.db"):
            shutil.copy2(template / name, folder / name)
        write_config(folder)
        env = superset_env(folder)
        database = building.result()
    timed("set-up (metadata and demo build in parallel)", started)
    port = free_port()
    log = open(folder / "superset.log", "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen([exe, "run", "-h", "127.0.0.1", "-p", str(port), "--with-threads"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    step = time.perf_counter()
    srv = Server(folder, database, password, port, proc)
    try:
        deadline = time.time() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{srv.url}/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("Superset did not start:\n"
                                   + (folder / "superset.log").read_text()[-3000:])
            time.sleep(1)
        timed("superset run until /health", step)
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{artifact_prefix}timings.json").write_text(json.dumps(timings, indent=2))
        shutil.copy(folder / "superset.log", ARTIFACTS / f"{artifact_prefix}superset.log")

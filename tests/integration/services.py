"""Real services for integration tests: PostgreSQL, an MLflow server, a two-node Ray cluster.

Each is a context manager that starts the real thing as local processes, waits until it answers,
and ALWAYS stops what it started on exit, also when the test fails. Processes are ended by their
own ids (never `ray stop` or `pkill`, which would end other people's Ray and servers on a shared
machine). The commands for MLflow and Ray come from `search.stack`, the same templates the
compose file is checked against.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from search import stack

BIN = Path(sys.executable).parent


class ServiceError(RuntimeError):
    """A service did not start; the message names it and the tail of its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_range(size: int) -> tuple[int, int]:
    """A run of `size` consecutive free ports (Ray's worker port range)."""
    for _ in range(200):
        low = random.randint(20000, 40000)
        if all(_port_free(port) for port in range(low, low + size)):
            return low, low + size - 1
    raise ServiceError(f"No run of {size} free ports found between 20000 and 40000.")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait(ready, what: str, timeout: float, process: subprocess.Popen | None, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if process is not None and process.poll() is not None:
            raise ServiceError(f"{what} exited with {process.returncode}:\n{_tail(log)}")
        time.sleep(0.5)
    raise ServiceError(f"{what} did not answer within {timeout:.0f} s:\n{_tail(log)}")


def _end_group(process: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM the process group we started, then SIGKILL whatever is left."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def _end_processes_mentioning(marker: str) -> None:
    """SIGKILL leftover processes whose command line names our private folder.

    Ray's workers and agents may leave our process group; they all carry the node's temp dir
    (or session dir under it) on their command line, which no one else's processes do.
    """
    own = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == own:
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if marker.encode() in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry), signal.SIGKILL)


# --- PostgreSQL -------------------------------------------------------------------------------


def postgres_bin_dir() -> Path | None:
    """Debian's PostgreSQL binaries (newest version), or None when not installed."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    return Path(candidates[-1]).parent if candidates else None


def _version_key(path: str) -> float:
    try:
        return float(Path(path).parts[4])
    except (IndexError, ValueError):
        return 0.0


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    database: str

    @property
    def sqlalchemy_uri(self) -> str:
        # psycopg (v3) is the driver MLflow's SQLAlchemy 2 uses; plain `postgresql://` would pick
        # psycopg2, which is not installed.
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def conninfo(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={self.database}"


@contextlib.contextmanager
def postgres(database: str = "mlflow") -> Iterator[Postgres]:
    """A throw-away PostgreSQL cluster in a temporary folder, trusting local connections."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise ServiceError(
            "PostgreSQL binaries are not installed (looked for /usr/lib/postgresql/*/bin/initdb); "
            "run .ci/install-services or `apt-get install postgresql`."
        )
    root = Path(tempfile.mkdtemp(prefix="gs-pg-"))
    data, log = root / "data", root / "postgres.log"
    # PostgreSQL refuses to run as root, so as root we run it as the `postgres` user.
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    port = free_port()
    run = {"check": True, "stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}
    started = False
    try:
        subprocess.run([*as_user, bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "postgres",
                        "-E", "UTF8", "--no-sync"], **run)  # fmt: skip
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run([*as_user, bin_dir / "pg_ctl", "-D", data, "-l", log, "-o", options,
                        "-w", "-t", "60", "start"], **run)  # fmt: skip
        started = True
        subprocess.run([*as_user, bin_dir / "createdb", "-h", "127.0.0.1", "-p", str(port),
                        "-U", "postgres", database], **run)  # fmt: skip
        yield Postgres("127.0.0.1", port, "postgres", database)
    except subprocess.CalledProcessError as error:
        output = error.stdout.decode(errors="replace") if error.stdout else ""
        raise ServiceError(f"PostgreSQL did not start: {output}\n{_tail(log)}") from error
    finally:
        if started:
            subprocess.run([*as_user, bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w",
                            "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        _end_processes_mentioning(str(data))
        shutil.rmtree(root, ignore_errors=True)


# --- MLflow server ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MlflowServer:
    uri: str
    artifacts: Path
    log: Path
    # The admin account of the server's basic authentication; the password also lies in a file
    # (`password_file`), as the compose stack hands it to its containers.
    username: str
    password: str
    password_file: Path

    def client_env(self) -> dict[str, str]:
        """What a user exports to use the server: the account, in MLflow's own variables."""
        return {
            "MLFLOW_TRACKING_USERNAME": self.username,
            "MLFLOW_TRACKING_PASSWORD": self.password,
        }

    def node_env(self) -> dict[str, str]:
        """What the compose stack gives each Ray node: the account, its password as a file."""
        return {
            "MLFLOW_TRACKING_USERNAME": self.username,
            "MLFLOW_TRACKING_PASSWORD_FILE": str(self.password_file),
        }


def mlflow_argv(backend_store_uri: str, artifacts: Path, port: int) -> list[str]:
    argv = stack.render(
        stack.MLFLOW_SERVER,
        backend_store_uri=backend_store_uri,
        artifacts_destination=artifacts,
        host="127.0.0.1",
        port=port,
        workers=1,  # two cores here; the compose stack runs more
        allowed_hosts=f"127.0.0.1:{port},localhost:{port}",
    )
    argv[0] = str(BIN / argv[0])
    return argv


@dataclass(frozen=True)
class ServerAuth:
    """The basic-auth app's settings for one test server: what `mlflow server` reads at start."""

    username: str
    password: str
    password_file: Path
    env: dict[str, str]


def server_auth(root: Path, backend_store_uri: str) -> ServerAuth:
    """A fresh admin account and auth config under `root` (users beside a PostgreSQL store's
    tables as in the stack, or in their own SQLite file next to a SQLite store)."""
    root.mkdir(parents=True, exist_ok=True)
    if backend_store_uri.startswith("sqlite:"):
        database_uri = f"sqlite:///{root}/basic_auth.db"
    else:
        database_uri = backend_store_uri
    config = root / "basic_auth.ini"
    config.write_text(stack.auth_config(database_uri))
    password = secrets.token_urlsafe(18)
    password_file = root / "mlflow_password"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    env = dict(zip(stack.MLFLOW_AUTH_ENV, ("admin", password, secrets.token_hex(32), str(config)),
                   strict=True))  # fmt: skip
    return ServerAuth("admin", password, password_file, env)


def mlflow_server_env(auth: ServerAuth) -> dict[str, str]:
    """The server's environment: ours, its auth settings, and none of a client's credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    return {**env, **auth.env, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


@contextlib.contextmanager
def mlflow_server(backend_store_uri: str, timeout: float = 180.0) -> Iterator[MlflowServer]:
    """`mlflow server` with the artifact proxy and basic auth, on a free port, answering /health."""
    root = Path(tempfile.mkdtemp(prefix="gs-mlflow-"))
    artifacts, log = root / "artifacts", root / "server.log"
    auth = server_auth(root / "auth", backend_store_uri)
    port = free_port()
    argv = mlflow_argv(backend_store_uri, artifacts, port)
    with open(log, "wb") as log_file:
        process = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,
                                   env=mlflow_server_env(auth), start_new_session=True)  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    try:
        _wait(
            lambda: http_ok(uri + stack.MLFLOW_HEALTH_PATH), "mlflow server", timeout, process, log
        )
        yield MlflowServer(uri, artifacts, log, auth.username, auth.password, auth.password_file)
    finally:
        _end_group(process)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Sets `values` in this process's environment, and restores what was there on exit."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --- Ray cluster ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RayCluster:
    dashboard_url: str  # the job API: http://127.0.0.1:PORT
    gcs_address: str  # what `ray start --address` and `ray.init(address=...)` take
    token: str  # Ray's token authentication is on, as in the compose stack
    temp_dirs: tuple[Path, ...]  # one per node, head first
    logs: tuple[Path, ...]


def _node_ports() -> dict[str, int]:
    low, high = free_port_range(12)
    names = ("node_manager_port", "object_manager_port", "agent_listen_port", "agent_grpc_port",
             "runtime_env_agent_port", "metrics_export_port")  # fmt: skip
    ports = {name: free_port() for name in names}
    return {**ports, "min_worker_port": low, "max_worker_port": high}


def ray_argv(template: tuple[str, ...], **values: object) -> list[str]:
    """`ray start` for one local node: the stack's template with this machine's free ports."""
    argv = stack.render(template, **_node_ports(), **values)
    argv[0] = str(BIN / argv[0])
    return argv


def _ray_env(token: str, extra: dict[str, str] | None) -> dict[str, str]:
    return {
        **os.environ,
        # Explicit, as in the compose stack: otherwise Ray turns token auth on or off depending
        # on whether some earlier `ray.init()` left a token in ~/.ray/auth_token.
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": token,
        # The job's entrypoint (`gru-search run ...`) is found on the PATH of the head's raylet.
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **(extra or {}),
    }


def _get_json(url: str, token: str):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def list_nodes(dashboard_url: str, token: str) -> list[dict]:
    """The cluster's nodes from the state API (node_id, is_head_node, state, ...)."""
    return _get_json(f"{dashboard_url}/api/v0/nodes?limit=100", token)["data"]["result"]["result"]


def job_actors(dashboard_url: str, token: str, submission_id: str) -> list[dict]:
    """The actors a submitted job created (class_name, node_id, state, ...), alive or dead."""
    ray_job_id = _get_json(f"{dashboard_url}/api/jobs/{submission_id}", token)["job_id"]
    query = (
        f"limit=1000&detail=1&filter_keys=job_id&filter_predicates=%3D&filter_values={ray_job_id}"
    )
    return _get_json(f"{dashboard_url}/api/v0/actors?{query}", token)["data"]["result"]["result"]


def _alive_nodes(dashboard_url: str, token: str) -> int:
    try:
        return sum(node["state"] == "ALIVE" for node in list_nodes(dashboard_url, token))
    except (OSError, ValueError, KeyError):  # while the head starts
        return 0


@contextlib.contextmanager
def ray_cluster(num_nodes: int = 2, cpus_per_node: int = 1, timeout: float = 120.0,
                env: dict[str, str] | None = None) -> Iterator[RayCluster]:  # fmt: skip
    """A Ray head plus `num_nodes - 1` more nodes on this machine, each with its own temp dir.

    While it runs, RAY_AUTH_TOKEN in this process holds the cluster's token, so `gru-search`
    commands run in-process authenticate as a user who exported it would.
    """
    processes: list[subprocess.Popen] = []
    temp_dirs: list[Path] = []
    logs: list[Path] = []
    token = secrets.token_hex(32)
    environment = _ray_env(token, env)
    saved_token = os.environ.get("RAY_AUTH_TOKEN")
    gcs_port, dashboard_port = free_port(), free_port()
    dashboard_url = f"http://127.0.0.1:{dashboard_port}"
    gcs_address = f"127.0.0.1:{gcs_port}"

    def start(template, **values) -> None:
        # Short path: Ray's unix sockets live under it and are limited to ~107 characters.
        temp_dir = Path(tempfile.mkdtemp(prefix="gsray", dir="/tmp"))
        log = temp_dir.with_suffix(".log")
        argv = ray_argv(template, temp_dir=temp_dir, num_cpus=cpus_per_node, **values)
        temp_dirs.append(temp_dir)
        logs.append(log)
        with open(log, "wb") as log_file:
            processes.append(subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,
                                              env=environment, start_new_session=True))  # fmt: skip

    def start_node(what: str, ready, template, **values) -> None:
        """Starts a node and waits for it; a second try on a fresh temp dir and ports if it fails.

        `ray start` gives its raylet a fixed 30 s to register with the GCS ("The current node
        timed out during startup"); on a loaded 2-core CI machine that happens now and then.
        """
        for attempt in (1, 2):
            start(template, **values)
            try:
                _wait(ready, what, timeout, processes[-1], logs[-1])
                return
            except ServiceError:
                if attempt == 2:
                    raise
                _end_group(processes.pop())
                _end_processes_mentioning(str(temp_dirs[-1]))
                shutil.rmtree(temp_dirs.pop(), ignore_errors=True)
                logs.pop().unlink(missing_ok=True)

    try:
        # The head keeps its GCS and dashboard ports on a retry: they are the cluster's address.
        start_node("ray head", lambda: http_ok(dashboard_url + stack.RAY_DASHBOARD_HEALTH_PATH),
                   stack.RAY_HEAD, gcs_port=gcs_port, dashboard_host="127.0.0.1",
                   dashboard_port=dashboard_port, client_port=free_port())  # fmt: skip
        for nodes in range(2, num_nodes + 1):
            start_node(f"ray node {nodes} of {num_nodes}",
                       lambda nodes=nodes: _alive_nodes(dashboard_url, token) >= nodes,
                       stack.RAY_WORKER, head_address=gcs_address)  # fmt: skip
        os.environ["RAY_AUTH_TOKEN"] = token
        yield RayCluster(dashboard_url, gcs_address, token, tuple(temp_dirs), tuple(logs))
    finally:
        if saved_token is None:
            os.environ.pop("RAY_AUTH_TOKEN", None)
        else:
            os.environ["RAY_AUTH_TOKEN"] = saved_token
        # Workers first, so the head does not spend the grace period waiting for them.
        for process in reversed(processes):
            _end_group(process)
        for temp_dir in temp_dirs:
            _end_processes_mentioning(str(temp_dir))
        for temp_dir, log in zip(temp_dirs, logs, strict=True):
            shutil.rmtree(temp_dir, ignore_errors=True)
            log.unlink(missing_ok=True)


@contextlib.contextmanager
def tracking_stack() -> Iterator[tuple[Postgres, MlflowServer]]:
    """PostgreSQL and an MLflow server on it: the tracking half of the compose stack.

    Ray nodes started for it should get `server.node_env()`; in-process commands and clients
    authenticate with `server.client_env()` (use `environment`).
    """
    with postgres() as database, mlflow_server(database.sqlalchemy_uri) as server:
        yield database, server

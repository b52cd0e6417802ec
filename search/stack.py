"""The commands the multi-machine stack runs, written once.

`docker-compose.yml` runs these commands in containers and the CI test
(`tests/integration/services.py`) runs the very same ones as local processes; a test parses the
compose file and binds each of its commands against these templates, so the two cannot drift.
A template is a tuple of words; `{name}` words are values each side fills in (ports, paths).
"""

from __future__ import annotations

import re

MLFLOW_HEALTH_PATH = "/health"
# Ray's health endpoints answer without its auth token (the job API needs one): the head's
# dashboard checks the GCS, each node's agent its raylet (on --dashboard-agent-listen-port).
RAY_DASHBOARD_HEALTH_PATH = "/api/gcs_healthz"
RAY_NODE_HEALTH_PATH = "/api/local_raylet_healthz"

MLFLOW_SERVER = (
    "mlflow", "server",
    "--backend-store-uri", "{backend_store_uri}",
    # The artifact proxy: clients upload and download models through the server, so trials on
    # any worker need no shared disk for artifacts.
    "--serve-artifacts",
    "--artifacts-destination", "{artifacts_destination}",
    "--host", "{host}",
    "--port", "{port}",
    "--workers", "{workers}",
    # MLflow 3 rejects Host headers other than localhost and private IPs unless listed here.
    "--allowed-hosts", "{allowed_hosts}",
    # HTTP basic authentication on every API call (/health stays open for probes). The server
    # reads its settings from the environment, never from this command line: MLFLOW_AUTH_*
    # below, and PGPASSWORD for a PostgreSQL store whose URI carries no password.
    "--app-name", "basic-auth",
)  # fmt: skip

# What the basic-auth app reads at start: the admin account it creates on an empty user store,
# the key that signs its forms (CSRF), and an ini file whose `database_uri` says where users and
# permissions live.
MLFLOW_AUTH_ENV = (
    "MLFLOW_AUTH_ADMIN_USERNAME",
    "MLFLOW_AUTH_ADMIN_PASSWORD",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
    "MLFLOW_AUTH_CONFIG_PATH",
)


def auth_config(database_uri: str, cache_ttl_s: int = 60) -> str:
    """The basic-auth app's ini: users in `database_uri`, everyone else may only read.

    Credential checks are cached for `cache_ttl_s`: without the cache every request runs a
    PBKDF2 hash (tens of milliseconds of CPU), which on a busy node slows every trial's logging.
    """
    return (
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {database_uri}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        f"auth_cache_ttl_seconds = {cache_ttl_s}\n"
    )


# Ports every Ray node opens besides the head's public ones. Containers can use fixed values; the
# CI test runs two nodes on one machine and gives each its own free ports.
_RAY_NODE_PORTS = (
    "--node-manager-port", "{node_manager_port}",
    "--object-manager-port", "{object_manager_port}",
    "--dashboard-agent-listen-port", "{agent_listen_port}",
    "--dashboard-agent-grpc-port", "{agent_grpc_port}",
    "--runtime-env-agent-port", "{runtime_env_agent_port}",
    "--metrics-export-port", "{metrics_export_port}",
    "--min-worker-port", "{min_worker_port}",
    "--max-worker-port", "{max_worker_port}",
)  # fmt: skip

RAY_HEAD = (
    "ray", "start", "--head", "--block", "--disable-usage-stats",
    "--port", "{gcs_port}",
    "--dashboard-host", "{dashboard_host}",
    "--dashboard-port", "{dashboard_port}",
    "--ray-client-server-port", "{client_port}",
    "--num-cpus", "{num_cpus}",
    "--temp-dir", "{temp_dir}",
    *_RAY_NODE_PORTS,
)  # fmt: skip

RAY_WORKER = (
    "ray", "start", "--block", "--disable-usage-stats",
    "--address", "{head_address}",
    "--num-cpus", "{num_cpus}",
    "--temp-dir", "{temp_dir}",
    *_RAY_NODE_PORTS,
)  # fmt: skip

# A worker on a machine's GPUs (the compose stack's `gpu` profile).
RAY_GPU_WORKER = (*RAY_WORKER, "--num-gpus", "{num_gpus}")

# A health probe that needs only Python (the slim image has no curl).
HTTP_PROBE = (
    "python", "-c",
    "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)",
    "{url}",
)  # fmt: skip

_PLACEHOLDER = re.compile(r"^\{(\w+)\}$")


def render(template: tuple[str, ...], **values: object) -> list[str]:
    """Fill every `{name}` word of a template; raises KeyError naming a missing value."""
    argv = []
    for word in template:
        match = _PLACEHOLDER.match(word)
        argv.append(str(values[match.group(1)]) if match else word)
    return argv


def bind(template: tuple[str, ...], argv: list[str]) -> dict[str, str]:
    """Return the values that make `render(template, **values) == argv`, or raise ValueError.

    Used to prove that a command written elsewhere (the compose file) is this template.
    """
    if len(argv) != len(template):
        raise ValueError(
            f"The command has {len(argv)} words but the template has {len(template)}: "
            f"got {argv!r}, expected the shape {list(template)!r}."
        )
    values: dict[str, str] = {}
    for position, (word, given) in enumerate(zip(template, argv, strict=True)):
        match = _PLACEHOLDER.match(word)
        if match is None:
            if word != given:
                raise ValueError(
                    f"Word {position} of the command is {given!r} but the template has {word!r}."
                )
        else:
            values[match.group(1)] = given
    return values

#!/bin/sh
# Entry point of both images: turns the secrets compose mounts under /run/secrets into what the
# programs read, refuses the committed example secrets outside a laptop, then runs the command.
#
# Our own code reads MLFLOW_TRACKING_PASSWORD_FILE itself (search.credentials) and Ray reads
# RAY_AUTH_TOKEN_PATH; MLflow's server and libpq read only variables, so for them each
# NAME_FILE is exported as NAME here, inside the container, never in the compose file.
set -eu

fail() {
    echo "gru-search entrypoint: $1" >&2
    exit 64
}

# The committed secrets (secrets/example/) start with "example-"; anyone can read them.
check_not_example() {
    if [ "${DEV:-0}" != "1" ] && grep -q '^example-' "$2"; then
        fail "$1 ($2) is the committed example secret; run \`make secrets\` and remove SECRETS_DIR from .env, or set DEV=1 on a laptop."
    fi
}

for file_variable in PGPASSWORD_FILE MLFLOW_AUTH_ADMIN_PASSWORD_FILE \
    MLFLOW_FLASK_SERVER_SECRET_KEY_FILE MLFLOW_TRACKING_PASSWORD_FILE RAY_AUTH_TOKEN_PATH; do
    eval "path=\${$file_variable:-}"
    [ -n "$path" ] || continue
    [ -r "$path" ] || fail "$file_variable names $path, which cannot be read; check the secrets: section of docker-compose.yml and SECRETS_DIR in .env."
    [ -s "$path" ] || fail "$file_variable names $path, which is empty; run \`make secrets\`."
    check_not_example "$file_variable" "$path"
    case "$file_variable" in
        PGPASSWORD_FILE | MLFLOW_AUTH_ADMIN_PASSWORD_FILE | MLFLOW_FLASK_SERVER_SECRET_KEY_FILE)
            variable=${file_variable%_FILE}
            value=$(cat "$path")
            export "$variable=$value"
            unset "$file_variable"
            ;;
    esac
done

# The basic-auth app finds its user store in an ini file (search.stack.auth_config writes the
# same one for the CI test): users and permissions live in the tracking store's PostgreSQL.
if [ -n "${MLFLOW_AUTH_DATABASE_URI:-}" ]; then
    MLFLOW_AUTH_CONFIG_PATH=${MLFLOW_AUTH_CONFIG_PATH:-/tmp/basic_auth.ini}
    printf '%s\n' "[mlflow]" "default_permission = READ" \
        "database_uri = $MLFLOW_AUTH_DATABASE_URI" \
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth" \
        "auth_cache_ttl_seconds = 60" > "$MLFLOW_AUTH_CONFIG_PATH"
    export MLFLOW_AUTH_CONFIG_PATH
fi

exec "$@"

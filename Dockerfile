# The stack's images, one build target each (docker-compose.yml names them):
#   mlflow  gru-search-mlflow:VERSION  the tracking server: MLflow, its auth app, PostgreSQL driver
#   train   gru-search:VERSION         Ray head and workers: the project, TensorFlow (CPU)
#   train with --build-arg GPU=1       gru-search-gpu:VERSION, TensorFlow with its CUDA libraries
# Dependencies come from the lock files (docker/lock.py writes them from the tested venv) and are
# installed in a layer before the source is copied, so a code edit rebuilds only the last layers.
FROM python:3.11.13-slim-bookworm AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

# Run as a plain user; the volume mount points are created here so named volumes inherit the
# ownership on first use.
RUN useradd --create-home --uid 1000 gru \
    && mkdir -p /ray_results /mlartifacts /tmp/ray \
    && chown gru:gru /ray_results /mlartifacts /tmp/ray
COPY docker/entrypoint.sh /usr/local/bin/gru-search-entrypoint
ENTRYPOINT ["/usr/local/bin/gru-search-entrypoint"]

FROM base AS mlflow
COPY docker/requirements/server.lock /tmp/server.lock
RUN pip install --no-deps -r /tmp/server.lock && python -c "import mlflow.server.auth, psycopg"
USER gru
WORKDIR /home/gru
EXPOSE 5000
CMD ["mlflow", "server", "--help"]

FROM base AS train
COPY docker/requirements/train.lock /tmp/train.lock
RUN pip install --no-deps -r /tmp/train.lock
# The GPU image adds TensorFlow's CUDA wheels (the same TensorFlow version as the lock).
ARG GPU=0
RUN if [ "$GPU" = "1" ]; then \
        pip install "tensorflow[and-cuda]==$(python -c 'import importlib.metadata as m; print(m.version("tensorflow"))')"; \
    fi
WORKDIR /opt/gru-search
COPY pyproject.toml README.md ./
COPY cells ./cells
COPY space ./space
COPY search ./search
RUN pip install --no-deps . && python -c "import cells, search, ray, mlflow, tensorflow"
USER gru
WORKDIR /home/gru
EXPOSE 6379 8265
CMD ["gru-search", "--help"]

# One image for the MLflow server, the Ray head and the Ray workers: the project and its
# dependencies are installed at build time, so nothing is fetched when a container starts.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /opt/gru-search
COPY pyproject.toml README.md ./
COPY cells ./cells
COPY space ./space
COPY search ./search
RUN pip install . && python -c "import cells, search, ray, mlflow, tensorflow"

# Run as a plain user; the volume mount points are created here so named volumes inherit the
# ownership on first use.
RUN useradd --create-home --uid 1000 gru \
    && mkdir -p /ray_results /mlartifacts /tmp/ray \
    && chown gru:gru /ray_results /mlartifacts /tmp/ray
USER gru
WORKDIR /home/gru

EXPOSE 5000 6379 8265 10001
CMD ["gru-search", "--help"]

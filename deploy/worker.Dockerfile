# CPU worker: no TensorFlow inside, the shipped model bundle baked in (mount another at
# /models/custom and set LABELER_MODEL to use it), a non-root user, a health check.
#   docker build -f deploy/worker.Dockerfile -t labeler-worker .
FROM python:3.12-slim
RUN useradd --create-home --uid 10001 labeler
WORKDIR /app
COPY pyproject.toml README.md ./
COPY labeler ./labeler
COPY worker ./worker
COPY export ./export
COPY training ./training
COPY cli ./cli
RUN pip install --no-cache-dir . && rm -rf /app/*
USER labeler
ENV LABELER_HOME=/home/labeler/.labeler
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s \
    CMD labeler doctor --quiet || exit 1
ENTRYPOINT ["labeler", "worker"]

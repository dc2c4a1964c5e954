# CPU worker: the CPU onnxruntime, no TensorFlow, the shipped model bundle inside (mount another
# at /models/custom and set LABELER_MODEL to use it), a non-root user, a health check.
#   online:  docker build -f deploy/worker.Dockerfile -t labeler-worker .
#   offline: sh deploy/wheelhouse.sh cpu 3.12 && \
#            docker build -f deploy/worker.Dockerfile --build-arg OFFLINE=1 -t labeler-worker .
# BASE is any image with python3 (3.11+) and its venv module; for an offline build wheelhouse/
# must match its Python version.
ARG BASE=python:3.12-slim
FROM ${BASE} AS build
ARG OFFLINE=0
# The source and the wheels stay in this stage; only the installed venv moves on.
COPY . /src
RUN sh /src/deploy/install-in-image.sh cpu "$OFFLINE"

FROM ${BASE}
COPY --from=build /opt/labeler /opt/labeler
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin labeler
ENV PATH=/opt/labeler/bin:$PATH LABELER_HOME=/home/labeler/.labeler
USER labeler
WORKDIR /home/labeler
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s \
    CMD labeler doctor --quiet || exit 1
ENTRYPOINT ["labeler", "worker"]

# GPU worker: onnxruntime-gpu with the CUDA 13 and cuDNN 9 libraries it loads (pip packages,
# found through onnxruntime.preload_dlls()), no TensorFlow. The host needs only the NVIDIA
# driver (the NVIDIA container toolkit passes it in). Run one worker process per GPU
# (--concurrency 1); TensorRT engines are cached in LABELER_HOME/tensorrt-cache (mount a volume
# there to keep them across restarts).
#   online:  docker build -f deploy/worker-gpu.Dockerfile -t labeler-worker-gpu .
#   offline: sh deploy/wheelhouse.sh gpu 3.12 && \
#            docker build -f deploy/worker-gpu.Dockerfile --build-arg OFFLINE=1 \
#                -t labeler-worker-gpu .
ARG BASE=python:3.12-slim
FROM ${BASE} AS build
ARG OFFLINE=0
COPY . /src
RUN sh /src/deploy/install-in-image.sh gpu "$OFFLINE"

FROM ${BASE}
COPY --from=build /opt/labeler /opt/labeler
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin labeler
ENV PATH=/opt/labeler/bin:$PATH LABELER_HOME=/home/labeler/.labeler
USER labeler
WORKDIR /home/labeler
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s \
    CMD labeler doctor --quiet || exit 1
ENTRYPOINT ["labeler", "worker", "--provider", "auto", "--concurrency", "1"]

# GPU worker: CUDA 12 and cuDNN 9 runtime libraries for onnxruntime-gpu, no TensorFlow.
# Run one worker process per GPU (--concurrency 1); TensorRT engines are cached in
# LABELER_HOME/tensorrt-cache (mount a volume there to keep them across restarts).
#   docker build -f deploy/worker-gpu.Dockerfile -t labeler-worker-gpu .
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* && useradd --create-home --uid 10001 labeler
RUN python3 -m venv /opt/labeler
ENV PATH=/opt/labeler/bin:$PATH
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
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s \
    CMD labeler doctor --quiet || exit 1
ENTRYPOINT ["labeler", "worker", "--provider", "auto", "--concurrency", "1"]

"""The inference engine: one ONNX Runtime InferenceSession per process, batched `run`.

Created once per worker process (after the fork), never per task. Providers are chosen once:
CUDA when asked for or when `auto` finds a GPU, CPU otherwise; `providers` reports what the
InferenceSession really uses, since ONNX Runtime silently falls back to CPU.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import os
from pathlib import Path
from typing import TYPE_CHECKING

from labeler.bundle import ModelBundle
from labeler.errors import BundleError, LabelerError
from labeler.settings import labeler_home

if TYPE_CHECKING:
    import numpy as np

PROVIDER_CHOICES = ("auto", "tensorrt", "cuda", "cpu")
TENSORRT, CUDA, CPU = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"


def gpu_present() -> bool:
    """Cheap test for an NVIDIA driver, so `auto` never makes ORT print CUDA load errors."""
    return os.path.exists("/dev/nvidiactl") or bool(ctypes.util.find_library("cuda"))


def tensorrt_present() -> bool:
    return bool(ctypes.util.find_library("nvinfer"))


def choose_providers(provider: str) -> list[str]:
    """Providers in priority order. `auto`: TensorRT, then CUDA, when a GPU (and TensorRT's
    library) is there; CPU always last, so whatever is missing falls back cleanly."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if provider not in PROVIDER_CHOICES:
        raise LabelerError(f"unknown provider {provider!r}; choose from {PROVIDER_CHOICES}")
    for name, wanted in (("cuda", CUDA), ("tensorrt", TENSORRT)):
        if provider == name and wanted not in available:
            raise LabelerError(f"{name} provider not available in this onnxruntime: "
                               "install onnxruntime-gpu (Linux x86_64/aarch64) built for your CUDA")
    gpu = provider in ("cuda", "tensorrt") or (provider == "auto" and gpu_present())
    chosen = []
    if gpu and TENSORRT in available and (provider == "tensorrt" or
                                          (provider == "auto" and tensorrt_present())):
        chosen.append(TENSORRT)
    if gpu and CUDA in available:
        chosen.append(CUDA)
    return [*chosen, CPU]


def _preload_cuda_libraries(ort) -> None:
    """Load CUDA and cuDNN from the nvidia-* pip packages (as PyTorch installs them) when
    they are not on the loader path; onnxruntime-gpu 1.21+ knows where to look. A GPU host
    whose libraries are system-wide needs none of it, and a failure here is not fatal: the
    InferenceSession then reports what it really runs on."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        with contextlib.suppress(Exception):
            preload(cuda=True, cudnn=True, msvc=False)


def provider_options(providers: list[str], precision: str, cache: Path) -> list:
    """TensorRT builds engines per model and precision; caching them makes restarts fast."""
    options = []
    for name in providers:
        if name == TENSORRT:
            options.append((name, {
                "trt_fp16_enable": precision in ("fp16", "int8"),
                "trt_int8_enable": precision == "int8",
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(cache),
                "trt_timing_cache_enable": True,
            }))
        else:
            options.append(name)
    return options


def default_precision(bundle: ModelBundle, providers: list[str]) -> str:
    """The bundle's best variant for the provider: int8 on CPU, fp16 on a GPU, else fp32."""
    preferred = ("fp16", "fp32") if providers[0] in (TENSORRT, CUDA) else ("int8", "fp32")
    for precision in preferred:
        if precision in bundle.variants:
            return precision
    return next(iter(bundle.variants))


class InferenceEngine:
    def __init__(
        self,
        bundle: ModelBundle,
        precision: str = "auto",
        provider: str = "auto",
        threads: int = 0,
    ) -> None:
        import onnxruntime as ort

        providers = choose_providers(provider)
        if CUDA in providers or TENSORRT in providers:
            _preload_cuda_libraries(ort)
        self.bundle = bundle
        self.precision = default_precision(bundle, providers) if precision == "auto" else precision
        self.model_path: Path = bundle.variant_path(self.precision)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        cache = labeler_home() / "tensorrt-cache"
        if TENSORRT in providers:
            cache.mkdir(parents=True, exist_ok=True)
        try:
            self.ort_session = ort.InferenceSession(
                bundle.verified_bytes(self.precision), options,
                providers=provider_options(providers, self.precision, cache),
            )
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
            raise BundleError(f"ONNX Runtime cannot load {self.model_path}: {exc}") from None
        self.input_name = self.ort_session.get_inputs()[0].name
        self.model_id = bundle.model_id(self.precision)

    @property
    def providers(self) -> list[str]:
        return self.ort_session.get_providers()

    def run(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) -> float32 (N, classes) calibrated probabilities."""
        return self.ort_session.run(None, {self.input_name: pixels})[0]

    def describe(self) -> str:
        line = f"model {self.model_path} ({self.model_id}) on {self.providers[0]}"
        import onnxruntime as ort

        if self.providers[0] == CPU and gpu_present() and CUDA not in ort.get_available_providers():
            line += " (a GPU is present but this onnxruntime has no CUDA provider: onnxruntime-gpu)"
        return line

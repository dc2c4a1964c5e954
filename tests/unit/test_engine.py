"""Provider choice and variant choice are pure logic over what ONNX Runtime reports."""

import numpy as np
import pytest

from labeler import engine
from labeler.engine import CPU, CUDA, TENSORRT, InferenceEngine
from labeler.errors import LabelerError


@pytest.fixture
def gpu_box(monkeypatch):
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [TENSORRT, CUDA, CPU])
    monkeypatch.setattr(engine, "gpu_present", lambda: True)


def test_auto_on_a_cpu_machine_is_cpu_only(monkeypatch):
    monkeypatch.setattr(engine, "gpu_present", lambda: False)
    assert engine.choose_providers("auto") == [CPU]


def test_auto_with_gpu_prefers_tensorrt_when_its_library_is_there(gpu_box, monkeypatch):
    monkeypatch.setattr(engine, "tensorrt_present", lambda: True)
    assert engine.choose_providers("auto") == [TENSORRT, CUDA, CPU]
    monkeypatch.setattr(engine, "tensorrt_present", lambda: False)
    assert engine.choose_providers("auto") == [CUDA, CPU]
    assert engine.choose_providers("cuda") == [CUDA, CPU]


def test_unavailable_provider_is_one_clear_error(monkeypatch):
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [CPU])
    with pytest.raises(LabelerError, match="onnxruntime-gpu"):
        engine.choose_providers("cuda")


def test_tensorrt_gets_precision_flags_and_an_engine_cache(tmp_path):
    options = engine.provider_options([TENSORRT, CUDA, CPU], "int8", tmp_path)
    trt = options[0][1]
    assert trt["trt_int8_enable"] and trt["trt_engine_cache_path"] == str(tmp_path)
    assert options[1:] == [CUDA, CPU]


def test_default_precision_is_int8_on_cpu_and_fp16_on_gpu(bundle):
    assert engine.default_precision(bundle, [CPU]) == "int8"
    assert engine.default_precision(bundle, [CUDA, CPU]) == "fp16"


def test_engine_reports_what_really_runs(bundle):
    eng = InferenceEngine(bundle, "auto", "cpu")
    assert eng.precision == "int8" and eng.providers == [CPU]
    probs = eng.run(np.zeros((3, *bundle.input_size, 3), np.uint8))
    assert probs.shape == (3, len(bundle.classes))
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-4)


def test_bench_skips_cuda_when_onnxruntime_lacks_it_on_a_gpu_host(monkeypatch):
    """Seen on an H200 host with the CPU-only onnxruntime: a GPU driver is not a CUDA provider."""
    import onnxruntime

    from labeler.bench import model_bench

    monkeypatch.setattr(model_bench, "gpu_present", lambda: True)
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [CPU])
    assert model_bench.available_providers() == ["cpu"]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [CUDA, CPU])
    assert model_bench.available_providers() == ["cpu", "cuda"]

"""FP16 and INT8 variants of an FP32 ONNX model.

FP16 (`half.to_float16`) keeps float inputs and outputs, so the uint8 pixel input and the
probability output are unchanged. INT8 is ONNX Runtime static quantisation: pre-processing
(`quant_pre_process`), QDQ format, per-channel weights, activations calibrated on training
images, with only the convolution stacks quantised: the input scaling and the classifier's end
(logits, temperature, softmax, a second look's gating) stay float32 (`float_ends`), in FP16
as in INT8. The settings travel with the variant in bundle.json.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from labeler.errors import LabelerError
from labeler.export.float_ends import float_nodes, quantised_probability_nodes

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


@dataclass(frozen=True)
class QuantizationConfig:
    method: str = "minmax"
    size: int = 512
    per_channel: bool = True
    # 7-bit weights avoid the U8S8 saturation of AVX2 CPUs without VNNI: measured on the
    # baseline here, top-1 agreement 93.5% without, 98.4% with. A bundle may run anywhere,
    # so the portable choice is the default.
    reduce_range: bool = True
    batch_size: int = 64

    def __post_init__(self) -> None:
        if self.method not in CALIBRATION_METHODS:
            raise LabelerError(f"unknown calibration method {self.method!r}; "
                               f"choose from {', '.join(CALIBRATION_METHODS)}")

    def as_dict(self) -> dict:
        return {**asdict(self), "format": "QDQ", "activations": "QUInt8", "weights": "QInt8"}


def make_fp16(fp32_path: Path, out_path: Path) -> None:
    import onnx

    from labeler.export.half import to_float16

    model = onnx.load(str(fp32_path))
    # The softmax and what gathers and scatters probabilities stay float32, as in int8: in
    # float16 every confidence above 0.9998 would be exactly 1.
    converted = to_float16(model, float_nodes(model.graph))
    _copy_metadata(model, converted)
    onnx.checker.check_model(converted)
    onnx.save(converted, str(out_path))


def make_int8(
    fp32_path: Path, out_path: Path, calibration: np.ndarray, config: QuantizationConfig
) -> None:
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(np.array_split(calibration, max(1, len(calibration)
                                                                 // config.batch_size)))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {"pixels": batch}

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[config.method]
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared), str(out_path), Batches(), quant_format=QuantFormat.QDQ,
            per_channel=config.per_channel, reduce_range=config.reduce_range,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=method,
            nodes_to_exclude=float_nodes(onnx.load(str(prepared)).graph),
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
    quantised = onnx.load(str(out_path))
    quantised_ends = quantised_probability_nodes(quantised.graph)
    if quantised_ends:
        out_path.unlink()
        raise LabelerError("int8 export quantised the classifier's float end "
                           f"({', '.join(quantised_ends)}); its probabilities would be served "
                           "on a 1/255 grid, so it is not written")
    _copy_metadata(onnx.load(str(fp32_path)), quantised)
    onnx.checker.check_model(quantised)
    onnx.save(quantised, str(out_path))


def count_quantised_nodes(path: Path) -> dict[str, int]:
    import onnx

    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    return {op: ops.count(op) for op in ("QuantizeLinear", "DequantizeLinear", "Conv", "Cast")}


def _copy_metadata(source, target) -> None:
    existing = {p.key for p in target.metadata_props}
    for prop in source.metadata_props:
        if prop.key not in existing:
            entry = target.metadata_props.add()
            entry.key, entry.value = prop.key, prop.value

"""FP16 and INT8 variants of an FP32 ONNX model.

FP16 (onnxconverter-common) keeps float inputs and outputs, so the uint8 pixel input and the
probability output are unchanged. INT8 is ONNX Runtime static quantisation: pre-processing
(`quant_pre_process`), QDQ format, per-channel weights, activations calibrated on training
images. The settings travel with the variant in bundle.json.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from labeler.errors import LabelerError

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
    from onnxconverter_common import float16

    model = onnx.load(str(fp32_path))
    # The uint8->float Cast at the input keeps its float32 output (the converter otherwise
    # retypes it to float16 without changing its `to` attribute, an invalid graph).
    blocked = [*float16.DEFAULT_OP_BLOCK_LIST, "Cast"]
    converted = float16.convert_float_to_float16(model, keep_io_types=True,
                                                 op_block_list=blocked)
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
            calibrate_method=method, nodes_to_exclude=_float_ends(prepared),
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
    quantised = onnx.load(str(out_path))
    _copy_metadata(onnx.load(str(fp32_path)), quantised)
    onnx.checker.check_model(quantised)
    onnx.save(quantised, str(out_path))


def _float_ends(path: Path) -> list[str]:
    """Nodes kept in float: the input scaling before the first Conv, and the classifier from
    the last MatMul/Gemm on (logits, temperature, softmax). Probabilities quantised to 8 bits
    turn near-ties into flipped labels; these ends cost little to keep exact."""
    import onnx

    nodes = onnx.load(str(path)).graph.node
    first_conv = next((i for i, n in enumerate(nodes) if n.op_type == "Conv"), 0)
    last_dense = max((i for i, n in enumerate(nodes) if n.op_type in ("MatMul", "Gemm")),
                     default=len(nodes))
    return [n.name for i, n in enumerate(nodes) if i < first_conv or i >= last_dense]


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

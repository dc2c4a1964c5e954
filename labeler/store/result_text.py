"""How a result is stored: the model's index in the job's model list, the margin and the
top-k as "class:p;class:p", joined by the ASCII unit separator; a ";" in a class name is
stored as the record separator (\\x1e) instead. Short, and read back without JSON."""

from __future__ import annotations

from labeler.protocol import LabelResult

SEPARATOR = "\x1f"


def encode_result(result: LabelResult, model: int) -> str:
    top_k = ";".join([f"{label}:{p}" if ";" not in label else
                      f"{label.replace(';', chr(0x1e))}:{p}" for label, p in result.top_k])
    return f"{model}{SEPARATOR}{result.margin}{SEPARATOR}{top_k}"


def top_k_pairs(top_k: str) -> list[tuple[str, float]]:
    """The stored top-k text as (label, probability) pairs."""
    pairs = []
    for pair in top_k.split(";"):
        label, _, p = pair.rpartition(":")
        pairs.append((label.replace(chr(0x1e), ";"), float(p)))
    return pairs


def decode_result(raw: bytes, models: list[str]) -> LabelResult:
    model, margin, top_k = raw.decode().split(SEPARATOR, 2)
    pairs = tuple(top_k_pairs(top_k))
    return LabelResult(pairs[0][0], pairs[0][1], float(margin), pairs, models[int(model)])


class CsvFields:
    """label, confidence, margin, top_k and model of a stored result, as the CSV writes them,
    straight from the stored text (no LabelResult: a million rows in seconds)."""

    def __init__(self, models: list[str]) -> None:
        self.models = models

    def __call__(self, raw: bytes) -> tuple[str, str, str, str, str]:
        model, margin, top_k = raw.decode().split(SEPARATOR, 2)
        label, _, confidence = top_k.split(";", 1)[0].rpartition(":")
        if chr(0x1e) in top_k:
            label, top_k = label.replace(chr(0x1e), ";"), top_k.replace(chr(0x1e), ";")
        return label, confidence, margin, top_k, self.models[int(model)]

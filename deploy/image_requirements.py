"""Print the requirements of a worker image, one a line, from pyproject.toml's dependencies:
`cpu` swaps onnxruntime-gpu for the CPU onnxruntime (a tenth of the size), `gpu` adds the CUDA
13 and cuDNN 9 libraries onnxruntime-gpu loads, as pip packages. No extras: an image carries
no TensorFlow; no matplotlib, a worker draws nothing (plots are for bench and score); and no
faiss or scipy, a worker searches nothing (they are `labeler duplicates`', 200 MB); and no
pyarrow, a worker writes no results files.

    python3 deploy/image_requirements.py cpu > requirements.txt
"""

import sys
import tomllib
from pathlib import Path

ONNXRUNTIME = {
    "cpu": ["onnxruntime>=1.22"],
    "gpu": ["onnxruntime-gpu[cuda,cudnn]>=1.22", "nvidia-cublas~=13.0"],
}

LEFT_OUT = ("onnxruntime", "matplotlib", "faiss-cpu", "scipy", "pyarrow")


def requirements(variant: str) -> list[str]:
    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml")
                            .read_text())["project"]
    kept = [d for d in project["dependencies"] if not d.startswith(LEFT_OUT)]
    return ONNXRUNTIME[variant] + kept


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ONNXRUNTIME:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(ONNXRUNTIME)}")
    print("\n".join(requirements(sys.argv[1])))

"""labeler: batch image labelling with a Keras-trained CNN served by ONNX Runtime on Celery."""

__version__ = "0.1.0"

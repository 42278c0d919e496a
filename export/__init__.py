"""Ship the student: ONNX export, int8 quantisation, verification, benchmark, and an on-device
runtime (``export.runtime``) that needs only onnxruntime, tokenizers and numpy.

Importing this package must stay light: ``export.runtime`` is imported on devices without torch.
"""

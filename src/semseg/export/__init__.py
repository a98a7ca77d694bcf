"""ONNX export and the ONNX Runtime graph cache used by inference."""

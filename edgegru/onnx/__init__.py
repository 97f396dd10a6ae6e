"""ONNX both ways: export a float model, import a graph built on the GRU op."""

"""TFLite: step models for LiteRT, written without TensorFlow, and streaming them."""

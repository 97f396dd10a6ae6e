"""Keras models (.keras and .h5) into float models, read with h5py and no TensorFlow."""

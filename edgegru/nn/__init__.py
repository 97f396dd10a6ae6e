"""The float stage: the model, its reference equations, training and evaluation."""

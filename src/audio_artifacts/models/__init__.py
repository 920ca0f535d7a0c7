"""Models: PANNs backbones and classifier, the fast default model, the registry
(name -> class) and model directories (weights + self-description)."""

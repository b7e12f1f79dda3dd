"""Face manipulation (deepfake) detection: faces found and tracked, an ensemble of published detectors."""

"""AI-generated image detection: learned detectors voting (`detector`) and a weight-free spectral aid (`spectrum`)."""

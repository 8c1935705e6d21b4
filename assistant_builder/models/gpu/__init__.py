"""CUDA speed-ups for training (each one measured or to be measured by benchmarks/gpu.py)."""

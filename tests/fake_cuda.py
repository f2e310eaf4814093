"""Preloaded by the "GPU" Dask worker of tests/test_distributed.py (`dask worker --preload`):
the worker believes it has CUDA, so it accepts the section that needs a GPU. The grader it
starts still sees no GPU and runs that section's CPU fallback; no GPU is exercised."""
import autograder.distributed

autograder.distributed.cuda_available = lambda: True

"""The `reconcile` benchmark: `bash run bench` (or `.venv/bin/python -m bench`). See docs/performance.md."""

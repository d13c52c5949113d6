"""The real test plugin: Go sources (main.go, proto/) and their offline build (build.py)."""

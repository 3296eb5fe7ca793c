"""The built-image layer: image sources (engine, docker-save and OCI archives), the merged
filesystem view, and the image checks."""

"""The Dockerfile layer: a BuildKit-faithful front end, a stage model and the static checks."""

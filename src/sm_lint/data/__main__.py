"""`python -m sm_lint.data`: write each data/<name>.json from data/<name>.toml."""
from sm_lint.data import compile_all

compile_all()

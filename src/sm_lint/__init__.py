"""sm-lint: check containers against the Amazon SageMaker Processing contract."""
from __future__ import annotations

__version__ = "0.3.0"

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT / "src"))

pytest_plugins = ["docker_support", "moto_support"]  # Docker engine fixture and test-image builders; moto server

"""How many GPUs a Processing instance type has, for `sm-lint run --scenario gpu`.

The service model (botocore) lists the instance types but not their hardware. These counts are
from the Amazon SageMaker AI pricing page's instance tables and the EC2 accelerated-computing
instance pages (https://aws.amazon.com/sagemaker/pricing/, https://aws.amazon.com/ec2/instance-types/);
a type not listed here has an unknown count: give `--expect-gpus`.
"""
from __future__ import annotations

import re
from typing import Dict, Optional

# family -> {size: GPUs}; "*" is every size not named.
_GPUS: Dict[str, Dict[str, int]] = {
    "p2": {"xlarge": 1, "8xlarge": 8, "16xlarge": 16},
    "p3": {"2xlarge": 1, "8xlarge": 4, "16xlarge": 8},
    "p3dn": {"24xlarge": 8},
    "p4d": {"24xlarge": 8},
    "p4de": {"24xlarge": 8},
    "p5": {"48xlarge": 8},
    "p5e": {"48xlarge": 8},
    "p5en": {"48xlarge": 8},
    "g4dn": {"12xlarge": 4, "*": 1},
    "g5": {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8, "*": 1},
    "g6": {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8, "*": 1},
    "g6e": {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8, "*": 1},
}
_TYPE = re.compile(r"ml\.([a-z]+\d+[a-z]*)\.(\w+)\Z")
_CPU_FAMILY = re.compile(r"[cmrt]\d")


def gpu_count(instance_type: str) -> Optional[int]:
    """GPUs of `ml.<family>.<size>`: a number, 0 for the CPU families (c, m, r, t), else None."""
    match = _TYPE.match(instance_type or "")
    if not match:
        return None
    family, size = match.groups()
    sizes = _GPUS.get(family)
    if sizes is not None:
        return sizes.get(size, sizes.get("*"))
    return 0 if _CPU_FAMILY.match(family) else None

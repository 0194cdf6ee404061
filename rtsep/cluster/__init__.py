"""Separation jobs on a Ray cluster: ``rtsep separate --ray ADDRESS`` (see docs/cluster.md).

:class:`RayBackend` (``backend.py``) runs a job's per-file tasks on an existing cluster;
:class:`LocalRayCluster` (``local.py``) starts a throw-away cluster on this machine for
the tests and the benchmark. Ray is optional: ``pip install "rtsep[cluster]"``.
"""

from .backend import RayBackend, check_reachable, import_ray
from .local import LocalRayCluster

__all__ = ["RayBackend", "LocalRayCluster", "check_reachable", "import_ray"]

"""Where things are stored on the nodes besides plain objects: multipart parts live
in a namespace of their own per bucket (defined in coordinator/namespaces.py, which
storage nodes also read when they move parts)."""

from __future__ import annotations

from coordinator.namespaces import PARTS_PREFIX, part_key, parts_namespace

__all__ = ["PARTS_PREFIX", "part_key", "parts_namespace"]

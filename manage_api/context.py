"""The API is served over the service layer's context: the same stores, clock and Temporal."""

from __future__ import annotations

from service.context import ServiceContext

ApiContext = ServiceContext

__all__ = ["ApiContext"]

from gateway.s3 import router
from gateway.s3.handlers import HANDLERS


def test_router_and_handlers_agree():
    """Every operation the router calls implemented has a handler, and back."""
    assert set(HANDLERS) == set(router.IMPLEMENTED)
    assert set(HANDLERS) <= set(router.ALL_OPERATIONS)

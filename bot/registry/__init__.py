"""The registry of controlled documents (issue 3): see `bot.registry.store`."""

from bot.registry.store import (
    PreparedDocument,
    RegisteredDocument,
    RegisteredPage,
    RegistrationError,
    Registry,
    RegistryError,
    check_doc_id,
    default_doc_id,
)

__all__ = [
    "PreparedDocument",
    "RegisteredDocument",
    "RegisteredPage",
    "RegistrationError",
    "Registry",
    "RegistryError",
    "check_doc_id",
    "default_doc_id",
]

from q2c.store.store import (
    CreditRecord,
    LinkKind,
    ParkedRecord,
    RecordLink,
    ShownInvoice,
    Store,
    Watermark,
)

__all__ = [
    "CreditRecord",
    "LinkKind",
    "ParkedRecord",
    "RecordLink",
    "ShownInvoice",
    "Store",
    "Watermark",
]

from q2c.store.backfill import BackfillStore  # registers the backfill tables with create_all
from q2c.store.onboarding import OnboardingStore  # registers the onboarding tables with create_all
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
    "BackfillStore",
    "CreditRecord",
    "LinkKind",
    "OnboardingStore",
    "ParkedRecord",
    "RecordLink",
    "ShownInvoice",
    "Store",
    "Watermark",
]

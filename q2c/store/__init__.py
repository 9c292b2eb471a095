from q2c.store.store import CreditRecord, LinkKind, RecordLink, Store, Watermark

__all__ = ["CreditRecord", "LinkKind", "RecordLink", "Store", "Watermark"]

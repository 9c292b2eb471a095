from q2c.store.store import LinkKind, RecordLink, Store

__all__ = ["LinkKind", "RecordLink", "Store"]

"""The Temporal client side, shared by the ways in (``starter/``), the worker wiring and the activities
that signal workflows (injected into them): connecting, starting and signalling workflows by their ids,
schedules. Knows nothing of Salesforce or NetSuite beyond the messages in ``q2c.domain``."""

"""A local NetSuite account speaking the REST web services wire protocol (record API, SuiteQL, TBA).

Modules: ``records`` (record type descriptions), ``codec`` (wire JSON <-> stored bodies), ``business``
(defaults, validation, computed fields, transform), ``service`` (record operations), ``store`` (SQLite,
SuiteQL views), ``suiteql``, ``auth`` (TBA), ``gate`` (concurrency, latency, auth, request log),
``record_api`` (routes), ``admin`` (/__admin), ``app`` (settings and factory).

Where the sandbox knowingly differs from a real account:

- Internal ids: one sequence per family (transactions, entities, items, currencies, subsidiaries), so
  ids rise per type and never collide inside SuiteQL's ``transaction`` table; real ids are sparser.
- Read-only fields in a write (id, tranId, totals, status, balance) are ignored, not rejected.
- Unknown body fields fail with INVALID_CONTENT unless ``X-NetSuite-PropertyNameValidation`` is
  ``Warning`` or ``Ignore``; custom fields (custentity_/custbody_/custitem_/custcol_) are free-form.
- Sublists: without ``?replace=item`` a write adds the lines it sends and updates lines named by
  ``line`` (NetSuite's keyed-sublist behaviour) - re-sending the same lines duplicates them.
- No tax, shipping, discounts, fulfilment or terms records: total = sum of line amounts, an invoice is
  due 30 days after its date, and transforming an order into an invoice bills it whole (status Billed);
  an order can be billed once.
- Record list ``q=`` filters are refused (400): use SuiteQL.
- SuiteQL: tables customer, contact, item, transaction, transactionline, subsidiary, currency (columns
  from ``records``); no main-line rows and unsigned quantities/amounts in transactionline; no
  BUILTIN functions, ROWNUM or date arithmetic (refused with a message); raw date columns come back as
  M/D/YYYY, TO_CHAR/TO_DATE work with the common Oracle format tokens. Custom fields are not columns.
- The error ``type`` URIs follow RFC 9110; older accounts send RFC 2616 URIs. Missing ``Prefer:
  transient`` on SuiteQL is answered 400 INVALID_HEADER (the real code is unconfirmed).
- Nonces are remembered in memory only: a restart forgets them.
"""

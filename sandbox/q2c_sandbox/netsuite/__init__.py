"""A local NetSuite account speaking the REST web services wire protocol (record API, SuiteQL, TBA).

Modules: ``records`` (record type descriptions), ``codec`` (wire JSON <-> stored bodies), ``business``
(defaults, validation, computed fields, credit holds, transforms), ``service`` (record operations),
``store`` (SQLite, SuiteQL views), ``suiteql``, ``auth`` (TBA), ``account`` (sandbox clock, accounting
preferences), ``gate`` (concurrency, latency, auth, request log), ``errors`` (error bodies, fault
rendering), ``record_api`` (routes), ``admin`` (/__admin), ``app`` (settings, factory, fault middleware).

Where the sandbox knowingly differs from a real account:

- Internal ids: one sequence per family (transactions, entities, items, currencies, subsidiaries), so
  ids rise per type and never collide inside SuiteQL's ``transaction`` table; real ids are sparser.
- Read-only fields in a write (id, tranId, totals, status, balance) are ignored, not rejected.
- Unknown body fields fail with INVALID_CONTENT unless ``X-NetSuite-PropertyNameValidation`` is
  ``Warning`` or ``Ignore``; custom fields (custentity_/custbody_/custitem_/custcol_) are free-form.
- Sublists: without ``?replace=item`` a write adds the lines it sends and updates lines named by
  ``line`` (NetSuite's keyed-sublist behaviour) - re-sending the same lines duplicates them.
- No tax, shipping, discounts, fulfilment or terms records: total = sum of line amounts, an invoice is
  due 30 days after its date, and transforming an order into an invoice bills all its open lines
  (status Billed; each invoice line keeps its ``orderLine``); an order can be billed once. Closing
  every order line (``isClosed``) sets the order to Closed; closed lines still count in its total.
  Amounts are unsigned everywhere (a real credit memo's foreigntotal is negative in SuiteQL).
- Time: one sandbox clock (``/__admin/clock``, forward only, persisted) dates everything - stamps,
  default tranDate, dueDate, daysOverdue, overdue balances, SYSDATE - in UTC (a real account uses its
  time zone preference). TBA timestamps are checked against real time. Stamps have one-second resolution.
- Billing: amountRemaining/status of an invoice and a customer's balance are stored and change only with
  a write (a payment or credit memo applied bumps the invoice's lastModifiedDate, never the customer's);
  invoice and customer daysOverdue, overdueBalance and unbilledOrders are computed on read. An invoice
  not overdue reads daysOverdue 0 (SuiteQL daysoverduesearch '0', not null). Customer balance = open
  invoice amounts - unapplied payments and credit memos.
- creditMemo: item and apply sublists; amountRemaining = unapplied; status Open / Fully Applied. The only
  transforms are salesOrder -> invoice and invoice -> creditMemo (the memo is applied to the invoice up
  to what it still owes).
- Credit hold (no body field, as on a real account): creditHoldOverride ON = on hold, OFF = never, AUTO =
  on hold when balance > creditLimit (unbilled orders and the new order itself are not counted, unlike
  a real account's "Credit Limit Includes Orders") or an open invoice is more days overdue than the
  ``credit_hold_days_overdue`` preference. With ``credit_limit_handling`` ENFORCE_HOLDS only creating a
  sales order is refused (USER_ERROR "Customer is on credit hold. ..."); a real account also refuses
  invoices and edits of the customer's transactions. WARN and IGNORE both let web services save, and
  the preference governs manual (ON) holds too. Admin loads are never refused by a hold. SuiteQL's real
  ``customer.oncredithold`` column is not provided.
- Faults (``/__admin/faults``): server_error 500 UNEXPECTED_ERROR, unavailable 503 SERVICE_UNAVAILABLE
  (the real 503 body is unconfirmed), rate_limited 429 CONCURRENCY_LIMIT_EXCEEDED, locked 400
  RCRD_LOCKED_BY_WF; they are answered before authentication and take no concurrency slot. Latency
  (``/__admin/latency``) is spent inside the slot.
- Record list ``q=`` filters are refused (400): use SuiteQL.
- SuiteQL: tables customer, contact, item, transaction, transactionline, subsidiary, currency (columns
  from ``records``), NextTransactionLineLink / PreviousTransactionLineLink (previousdoc, previousline,
  previoustype, nextdoc, nextline, nexttype, linktype, foreignamount, amount; OrdBill links an order line
  to the invoice line billing it, Payment links an invoice to a payment or credit memo applied to it, on
  line 0; the real link type of an applied credit memo is unconfirmed); no main-line rows and unsigned
  quantities/amounts in transactionline; no
  BUILTIN functions, ROWNUM or date arithmetic (refused with a message); raw date columns come back as
  M/D/YYYY, TO_CHAR/TO_DATE work with the common Oracle format tokens. Custom fields are not columns.
- The error ``type`` URIs follow RFC 9110; older accounts send RFC 2616 URIs. Missing ``Prefer:
  transient`` on SuiteQL is answered 400 INVALID_HEADER (the real code is unconfirmed).
- Nonces are remembered in memory only: a restart forgets them.
"""

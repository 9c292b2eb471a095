"""A local NetSuite account speaking the REST web services wire protocol (record API, SuiteQL, TBA).

Modules: ``records`` (record type descriptions), ``codec`` (wire JSON <-> stored bodies), ``business``
(defaults, validation, computed fields, credit holds, transforms), ``inventory`` (stock balances,
commitments, item fulfillments), ``service`` (record operations, receipts), ``store`` (SQLite, SuiteQL
views), ``suiteql``, ``auth`` (TBA), ``account`` (sandbox clock, accounting preferences), ``gate``
(concurrency, latency, auth, request log), ``errors`` (error bodies, fault rendering), ``record_api``
(routes), ``admin`` (/__admin), ``app`` (settings, factory, fault middleware).

Where the sandbox knowingly differs from a real account:

- Internal ids: one sequence per family (transactions, entities, items, currencies, subsidiaries,
  locations, price levels), so ids rise per type and never collide inside SuiteQL's ``transaction`` or
  ``item`` table (an admin load's explicit id is refused when any type of the family holds it); real ids
  are sparser. Price level 1 "Base Price" exists from the start (and after a reset); it is not counted in
  the admin stats and cannot be deleted (nor can the built-in accounting periods and revenue
  recognition rules below).
- Read-only fields in a write (id, tranId, totals, status, balance) are ignored, not rejected.
- Unknown body fields fail with INVALID_CONTENT unless ``X-NetSuite-PropertyNameValidation`` is
  ``Warning`` or ``Ignore``; custom fields (custentity_/custbody_/custitem_/custcol_) are free-form.
- Sublists: without ``?replace=item`` a write adds the lines it sends and updates lines named by
  ``line`` (NetSuite's keyed-sublist behaviour) - re-sending the same lines duplicates them.
- No tax, shipping, discounts or terms records: total = sum of line amounts, an invoice is due 30 days
  after its date, and transforming an order into an invoice bills all its open lines whatever has been
  fulfilled (status Billed; each invoice line keeps its ``orderLine``); an order can be billed once, and
  billing releases what its lines still had committed or back-ordered. Closing every order line
  (``isClosed``) sets the order to Closed; closed lines still count in its total. Amounts are unsigned
  everywhere (a real credit memo's foreigntotal is negative in SuiteQL).
- Items: inventoryItem, nonInventorySaleItem, serviceSaleItem and itemGroup (SuiteQL itemtype InvtPart,
  NonInvtPart, Service, Group). ``basePrice`` is a sandbox body field (not on itemGroup); the price matrix
  is a ``price`` sublist of lines {priceLevel, currency, quantity (the break's minimum, 0 = base row),
  price} - the real record API's shape of it is unconfirmed - with one line per (level, currency,
  quantity); without ``?replace=price`` a PATCH adds lines, so re-sending a row is refused. Every level's
  prices are explicit (no markup levels, no automatic currency conversion). A line's default rate is
  basePrice, else the Base Price row at quantity 0 in the transaction's currency: quantity breaks never
  apply to transaction rates. Item groups are not expanded into their member lines on transactions
  (a group line needs a rate, and ships as one line that moves no stock); a group cannot hold a group;
  itemId uniqueness is not enforced.
- Stock: only inventory items hold stock, per location; no bins, lots, serial numbers, inventory
  statuses, units of measure, costing or GL impact. Receipts are inventoryAdjustment transactions
  (InvAdjst; no adjustment account; refused if on hand would go below zero). There are no purchase orders
  or item receipts: ``/__admin/inventory/expect`` stands in for them - it raises quantityonorder at once
  but creates no transaction until the sandbox clock reaches its date (then an adjustment dated that
  day), so a transaction change poll does not see quantityonorder rise. SuiteQL ``inventoryitemlocations``
  has a row for every inventory item and every location (zeros where nothing moved; the real table's
  coverage is unconfirmed); ``inventorybalance`` only rows with stock on hand, without bin or status
  columns.
- Commitment: every order line commits as "Commit: Available Qty": on each save an inventory line
  commits min(open quantity, on hand - committed) at its location (default: the first active location
  of the order's subsidiary, else the first active location), the rest is back-ordered. A line without a
  location (an account without locations) commits nothing and counts in no balance. Whenever stock
  becomes free at a location (a receipt, a closed line, a billed or deleted order) back-orders there are
  committed at once, oldest order (tranDate, then id) first, bumping those orders' lastModifiedDate; a
  real account does that per its order allocation settings. Deleting an order releases its stock
  silently (no transaction is left for a change poll to find).
- Fulfilment: an itemFulfillment is created only by ``!transform/itemFulfillment`` (an admin load may
  create one); without an item sublist it ships every open quantity that can ship now (inventory lines:
  what is committed to them plus free stock at their location; nothing -> 400). Stock leaves on hand when
  the fulfillment is saved, whatever its shipStatus (a real account with pick, pack and ship posts at
  Shipped). Service items are not fulfilled. A fulfillment's item lines cannot be changed afterwards
  (shipStatus, tranDate, memo and packages can; delete it and fulfil again - that puts the stock back).
  Order status: nothing fulfilled Pending Fulfillment (B), part Pending Billing/Partially Fulfilled (E),
  all Pending Billing (F), Billed (G) stays; Partially Fulfilled (D) is never used, and an order with
  nothing to ship (services only) is Pending Billing at once. A billed, closed or cancelled order cannot
  be fulfilled.
- Time: one sandbox clock (``/__admin/clock``, forward only, persisted) dates everything - stamps,
  default tranDate, dueDate, daysOverdue, overdue balances, SYSDATE - in UTC (a real account uses its
  time zone preference). TBA timestamps are checked against real time. Stamps have one-second resolution.
- Billing: amountRemaining/status of an invoice and a customer's balance are stored and change only with
  a write (a payment or credit memo applied bumps the invoice's lastModifiedDate, never the customer's);
  invoice and customer daysOverdue, overdueBalance and unbilledOrders are computed on read. An invoice
  not overdue reads daysOverdue 0 (SuiteQL daysoverduesearch '0', not null). Customer balance = open
  invoice amounts - unapplied payments and credit memos.
- creditMemo: item and apply sublists; amountRemaining = unapplied; status Open / Fully Applied. The only
  transforms are salesOrder -> invoice, salesOrder -> itemFulfillment and invoice -> creditMemo (the memo
  is applied to the invoice up to what it still owes).
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
- Accounting periods (``accountingPeriod``, SuiteQL ``accountingperiod``): built in and read-only (a
  POST, PATCH or DELETE is a USER_ERROR; the real refusal is unconfirmed): the calendar years 2020-2035,
  each a year "FY 2026", four quarters "Q1 2026" (parent: the year) and twelve posting months "Jan 2026"
  (parent: the quarter), with the ids of ``records.period_id`` (17 a year: FY 2020 = 1, Q1 2020 = 2, Jan
  2020 = 3, ..., FY 2026 = 103, Jan 2026 = 105). No fiscal years other than the calendar's, no 4-4-5
  calendars, no adjustment periods (isAdjust is always F), no A/R or A/P locks: ``closed`` is computed
  from the sandbox clock, T once the period's end date has passed, as if the accountant closed every
  period the day after it ended. Like price level 1 they survive a reset and are not in the admin stats.
- Consolidated exchange rates (``consolidatedExchangeRate``): written by clients, one per (postingPeriod,
  fromCurrency, toCurrency, fromSubsidiary, toSubsidiary) (a second is a USER_ERROR), the period a month
  (else INVALID_CONTENT on postingPeriod), rates > 0, averageRate required. The subsidiaries are optional
  and not checked against the currencies, and the sandbox computes none of these rates and converts
  nothing with them (a real account derives them from its exchange rate table and the subsidiary tree).
- Revenue recognition, a much simplified Advanced Revenue Management: two built-in read-only rules
  (``revRecRule``, SuiteQL ``revenuerecognitionrule``): 1 "Recognize Immediately" (IMMEDIATE) and 2
  "Straight-line, by term" (STRAIGHT_LINE). Items carry ``revenueRecognitionRule`` and
  ``revRecTermInMonths``; created without a rule, a service item gets 2 over 12 months, an inventory or
  non-inventory item 1; an item group has no rule (no revenue of its own; its lines are not expanded).
  A sales order line may override the start (``revRecStartDate``, default the order's tranDate) and the
  term (``revRecTermInMonths``, 1-999). SuiteQL ``revenueelement`` has one row per line whose item has a
  rule (closed lines, cancelled orders - status C, which the API cannot set - and lines numbered above 999
  have none), ``revenueplan`` one ACTUAL plan per element (no forecast plans), and
  ``revenueplanplannedrevenue`` one row per plan and month: whole months from the start date's month, no
  daily proration, month k of n recognising round(A*k/n, 2) - round(A*(k-1)/n, 2) so they add up to A;
  a month is recognised (isrecognized T) once its period is closed by the clock. There are no revenue
  arrangements, contracts, fair-value allocation, recognition journal entries or deferred revenue
  accounts; amounts are the lines' in the transaction currency; periods outside 2020-2035 read
  plannedperiod null. The three are computed from the records on read (ids: element = order id * 1000 +
  line, plan = element * 10 + 1, planned revenue = plan * 1000 + month number), so they follow every
  write and the clock; the real tables are filled by ARM's own processes and have many more columns.
- Record list ``q=`` filters are refused (400): use SuiteQL.
- SuiteQL: tables customer, contact, item, transaction, transactionline, subsidiary, currency, location,
  pricelevel, accountingperiod, consolidatedexchangerate, revenuerecognitionrule, revenueelement,
  revenueplan, revenueplanplannedrevenue (columns from ``records`` and ``store``), pricing (item, pricelevel, currency, quantity, unitprice),
  itemmember (parentitem, item, quantity, linenumber), inventoryitemlocations (item, location,
  quantityonhand, quantityavailable, quantityonorder, quantitybackordered, quantitycommitted),
  inventorybalance (item, location, quantityonhand, quantityavailable), NextTransactionLineLink /
  PreviousTransactionLineLink (previousdoc, previousline, previoustype, nextdoc, nextline, nexttype,
  linktype, foreignamount, amount; OrdBill links an order line to the invoice line billing it, ShipRcpt to
  a fulfillment line shipping it, Payment links an invoice to a payment or credit memo applied to it, on
  line 0; the real link type of an applied credit memo is unconfirmed); transaction.trackingnumberlist is
  a fulfillment's package tracking numbers joined by "," (the real separator is unconfirmed);
  transactionline has location and, on order lines, quantityshiprecv / quantitycommitted /
  quantitybackordered; no main-line or tax-line rows (mainline and taxline are always 'F': the sandbox computes no
  tax) and unsigned quantities/amounts in transactionline (a
  fulfillment line's quantity is positive, an adjustment line's is its adjustQtyBy); no
  BUILTIN functions, ROWNUM or date arithmetic (refused with a message); raw date columns (and MIN/MAX
  of one) come back as M/D/YYYY, TO_CHAR/TO_DATE work with the common Oracle format tokens. SUM adds in
  decimal (amounts add up to the cent) and numbers print with at most 15 significant digits. Custom
  fields are not columns.
- The error ``type`` URIs follow RFC 9110; older accounts send RFC 2616 URIs. Missing ``Prefer:
  transient`` on SuiteQL is answered 400 INVALID_HEADER (the real code is unconfirmed).
- Nonces are remembered in memory only: a restart forgets them.
"""

"""A local Salesforce org speaking the REST wire protocol (see ``app.create_app``).

Deliberate differences from a real org, for anyone relying on the sandbox:

- OAuth: password, client-credentials and JWT bearer grants (no refresh tokens, no web/user-agent flows,
  no scopes). Password and client-credentials tokens act as the integration user; a JWT bearer token acts
  as the active User its ``sub`` names, with no pre-authorisation check (every active user counts as
  approved). JWT ``exp`` must be at most 3 minutes away, as documented (real orgs are reported to be more
  lenient); an unlisted refusal reason is answered "invalid assertion". The connected app's certificate
  is not checked for expiry. Sessions expire after ``session_ttl_seconds`` of inactivity.
- Injected faults (``/__admin/faults``, ``/__admin/latency``; see ``injection``): errors use the org's
  bodies; UNKNOWN_EXCEPTION and UNABLE_TO_LOCK_ROW on an authenticated call count against the daily
  allocation and carry ``Sforce-Limit-Info``, REQUEST_LIMIT_EXCEEDED carries the header uncounted, 503s
  neither. A fault hits before authentication and routing, so an unauthenticated or unknown URL can get
  it too; the token endpoint's faults use the REST error bodies. An injected lock names the id in the
  URL only (not ids inside composite bodies).
- SOQL: SELECT lists, parent paths, child subqueries (nested too), WHERE with AND/OR/NOT, comparison
  operators, IN/NOT IN, LIKE, date and datetime literals and the common relative date literals, ORDER BY,
  LIMIT, OFFSET, ``COUNT()`` and ``COUNT(field)``. No GROUP BY/HAVING, other aggregates, semi-joins,
  TYPEOF, FIELDS(), WITH or FOR clauses (they answer MALFORMED_QUERY). Query locators live in memory and
  do not survive a restart.
- Opportunity stages are fixed (``schema.toml``): Closed Won and Closed Lost close a deal, the rest are
  open. ForecastCategoryName takes the stage's default on create and on every stage change (Closed Won
  Closed, Closed Lost Omitted, an open stage Pipeline) unless the same write sets a category with an
  open stage; a closed stage always forces its own. A real org reads the defaults from its
  OpportunityStage records, which an administrator can change.
- Tasks: Status takes the TaskStatus standard value set, ``schema.toml``'s defaults unless the SFDX project
  deploys ``standardValueSets/TaskStatus.standardValueSet-meta.xml`` (other standard value sets in a
  project are ignored: those picklists stay as ``schema.toml`` has them). IsClosed follows the status's
  closed flag; CompletedDateTime is the time the task became closed, kept while it moves between closed
  statuses and cleared when it reopens. WhatId on Task references Account only; a real org's WhatId is
  polymorphic (as is WhoId, Contact only here).
- Writes: no triggers, validation rules, duplicate rules or sharing. Making an inactive User a record's
  owner is refused (INACTIVE_OWNER_OR_USER) on every API write but admin loads; a record an inactive user
  already owns stays editable (only a new owner is checked). Deleting an Opportunity deletes its line
  items, and deleting a Product2 or Pricebook2 its price book entries; other parent deletions neither
  cascade nor clear lookups (the children's queries show the parent as null). Deleted records stay deleted
  (no undelete, no recycle-bin purge). Relationship fields by external id in a write body
  (``"Product__r": {"NetSuite_Internal_ID__c": "1"}``) are not supported (INVALID_FIELD): send the id.
- Price books: a custom price needs an *active* standard price in its currency (STANDARD_PRICE_NOT_DEFINED;
  sObject Collections run records in order, so a standard and then a custom entry in one request work);
  one entry per product, book and currency (DUPLICATE_VALUE); Product2Id, Pricebook2Id and CurrencyIsoCode
  are set on create only (INVALID_FIELD_FOR_INSERT_UPDATE in any update that sends them). Deleting a
  PricebookEntry, Product2 or Pricebook2 that a live opportunity line uses is refused with DELETE_FAILED
  ("Your attempt to delete X could not be completed because it is associated with the following
  opportunities: A, B"), the standard price book always; deactivating any of them is allowed. Salesforce's
  object reference for recent releases says a PricebookEntry deleted while a line uses it is archived
  instead (IsArchived); the sandbox has no archiving (no IsArchived, no UseStandardPrice). Deactivating, or
  deleting, a standard price while custom prices in its currency are active is allowed: we found no
  documentation either way.
- Request size: URI and headers together over 16,384 bytes get 431 (414 when the URI alone is over) with a
  plain-text body, before authentication and uncounted, as from a real org's front end. 500 18-character
  ids fit in a GET query's IN list; about 580 do not.
- Outbound messages (see ``outbound``): at most one per sObject, on Account, Contact, Opportunity and
  Task only, each bound to a fixed workflow rule: Opportunity when IsWon changes (an Opportunity created
  already won counts), Account and Contact on every API create and update ("created, and every time it's
  edited", by any user, the integration user included), Task when created or its Status changes. Other
  rules and criteria, other objects, the workflow actions other than outbound messages (field updates,
  task assignments, email alerts), and the message's "Send Session ID" and "User to send as" options are
  not modelled (SessionId is always nil). Field values are captured when the write happens; deletes and admin loads
  never fire. Deleting a configuration leaves its queued notifications queued until they expire.
- Logging in as another user: ``POST /__admin/sessions`` issues a session for any active User with no
  password (a test's way to write as a sales user); the token endpoint's password grant knows only the
  integration user.
- Ids: 15 characters plus the usual case-safe suffix; checksums of incoming ids are not verified.
- Bulk API 2.0 (see ``bulk2``): jobs live in memory and are processed one row at a time in upload order;
  several uploads to one job are concatenated; no PK chunking, gzip or Serial mode; the README lists the
  rest ("What the sandbox's Bulk API knowingly does not do").
"""

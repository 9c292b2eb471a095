"""A local Salesforce org speaking the REST wire protocol (see ``app.create_app``).

Deliberate differences from a real org, for anyone relying on the sandbox:

- OAuth: password and client-credentials grants only (no JWT bearer, no refresh tokens); every token acts
  as the integration user. Sessions expire after ``session_ttl_seconds`` of inactivity.
- SOQL: SELECT lists, parent paths, child subqueries (nested too), WHERE with AND/OR/NOT, comparison
  operators, IN/NOT IN, LIKE, date and datetime literals and the common relative date literals, ORDER BY,
  LIMIT, OFFSET, ``COUNT()`` and ``COUNT(field)``. No GROUP BY/HAVING, other aggregates, semi-joins,
  TYPEOF, FIELDS(), WITH or FOR clauses (they answer MALFORMED_QUERY). Query locators live in memory and
  do not survive a restart.
- Writes: no triggers, validation rules, duplicate rules or sharing. Deleting an Opportunity deletes its
  line items; other parent deletions neither cascade nor clear lookups (the children's queries show the
  parent as null). Deleted records stay deleted (no undelete, no recycle-bin purge).
- Outbound messages: one configuration, on Opportunity, fired when IsWon changes by an API write (an
  Opportunity created already won counts); field values are captured when the change happens.
- Ids: 15 characters plus the usual case-safe suffix; checksums of incoming ids are not verified.
"""

"""Customer onboarding rules: the declarative file (who looks after a new customer, and the tasks every new
customer gets) and the pure decisions the onboarding workflow takes from it.

The file (``onboarding.toml``, shipped with defaults; ``Q2C_ONBOARDING_PATH`` for your own) has one
``[onboarding]`` table: settings, ``regions`` (account billing country -> region), ``[[segments]]`` (by the
first order's amount in its currency), ``[[csms]]`` (the roster: Salesforce usernames and capacities),
``[[assignment]]`` rules (first match wins; round-robin within a rule) and ``[[tasks]]`` (the sequence:
each step a Salesforce Task with a subject, an owner role, a due day and the steps it waits for).
``load_onboarding_plan`` validates it and names the line and the field of every problem, as the mapping
file does.

Everything else here is a pure function of the plan, the facts and dates, so the workflow can run it
deterministically and unit tests can check it without a server: ``customer_facts``, ``matching_rule``,
``choose_csm``, ``agenda`` (what is due today, when to look next) and the day arithmetic.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from collections.abc import Iterable, Iterator
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from q2c.domain.mapping import Loc, load_checked_toml
from q2c.domain.metadata import SFDX_SOURCE, Metadata

DEFAULT_ONBOARDING_PATH = Path(__file__).with_name("onboarding.toml")
# Fields of a task's subject and description a plan may use, e.g. "Kickoff call with {account}".
PLACEHOLDERS = frozenset({"account", "customer", "csm", "sales_order", "amount", "currency", "due"})
SUBJECT_MAX = 255  # Task.Subject


class DayCount(StrEnum):
    CALENDAR = "calendar"
    BUSINESS = "business"  # Monday to Friday


class OwnerRole(StrEnum):
    """Who a step's Task is assigned to."""

    CSM = "csm"
    ACCOUNT_OWNER = "account_owner"
    CSM_MANAGER = "csm_manager"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepRule(_Strict):
    """One step of the sequence: a Salesforce Task, created when it is due (or ``lead_days`` before) and
    not before the steps it comes ``after`` are done."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    subject: str = Field(min_length=1, max_length=SUBJECT_MAX)
    description: str = ""
    owner: OwnerRole = OwnerRole.CSM
    day: int = Field(ge=0, le=3650)  # due this many (calendar or business) days after the start
    lead_days: int = Field(default=0, ge=0, le=365)  # created this many days before its due date
    after: list[str] = Field(default_factory=list)
    priority: Literal["High", "Normal", "Low"] = "Normal"
    escalate: bool = True
    escalate_after_days: int | None = Field(default=None, ge=1, le=365)  # None: the plan's


class SegmentRule(_Strict):
    name: str = Field(min_length=1, max_length=40)
    # The first order's amount, in its currency, reaches this: the segment applies (the first that does).
    # A currency missing here never reaches it; no minimum at all: every customer (a catch-all).
    min_amount: dict[str, Decimal] = Field(default_factory=dict)


class CsmEntry(_Strict):
    username: str = Field(min_length=3, max_length=80)
    capacity: int | None = Field(default=None, ge=1)  # open onboardings at once; None: the plan's default


class AssignmentRule(_Strict):
    """Matches when every condition it gives holds (an empty list: any value)."""

    name: str = Field(min_length=1, max_length=80)
    segment: list[str] = Field(default_factory=list)
    region: list[str] = Field(default_factory=list)
    currency: list[str] = Field(default_factory=list)
    csms: list[str] = Field(min_length=1)


class OnboardingPlan(_Strict):
    enabled: bool = True
    # A User lookup on Account that gets the CSM (custom: in metadata/); None: none is written.
    account_csm_field: str | None = None
    assign_account_owner: bool = False  # the CSM also becomes the account's owner
    days: DayCount = DayCount.CALENDAR
    escalate_after_days: int = Field(default=2, ge=1, le=365)
    # Who gets escalations when the CSM has no active manager in Salesforce (a username); None: nobody,
    # and the onboarding says so.
    escalation_fallback: str | None = None
    default_capacity: int = Field(default=25, ge=1)
    regions: dict[str, list[str]] = Field(default_factory=dict)
    segments: list[SegmentRule] = Field(default_factory=list)
    csms: list[CsmEntry] = Field(default_factory=list)
    assignment: list[AssignmentRule] = Field(default_factory=list)
    tasks: list[StepRule] = Field(min_length=1)

    def step(self, key: str) -> StepRule:
        for step in self.tasks:
            if step.key == key:
                return step
        raise KeyError(f"the onboarding plan has no step {key!r}")

    def capacity(self, username: str) -> int:
        for csm in self.csms:
            if csm.username.lower() == username.lower() and csm.capacity is not None:
                return csm.capacity
        return self.default_capacity

    def escalation_days(self, step: StepRule) -> int:
        return step.escalate_after_days or self.escalate_after_days


class _File(_Strict):
    onboarding: OnboardingPlan


class OnboardingFileError(ValueError):
    """The onboarding file cannot be used; the message names the file, the line, the field and the problem."""


def load_onboarding_plan(path: Path | None = None, *, metadata: Path | None = None) -> OnboardingPlan:
    """Read and validate the onboarding file (default: the shipped ``onboarding.toml``), checking the
    account field it writes against the metadata q2c ships. Raises ``OnboardingFileError`` listing every
    problem, each with its line where it can be located."""
    loaded = load_checked_toml(
        path or DEFAULT_ONBOARDING_PATH,
        _File,
        kind="onboarding file",
        error=OnboardingFileError,
        metadata=metadata,
        cross_check=lambda file, meta: [
            (("onboarding", *loc), message) for loc, message in _cross_check(file.onboarding, meta)
        ],
    )
    return loaded.onboarding


def _cross_check(plan: OnboardingPlan, meta: Metadata) -> Iterator[tuple[Loc, str]]:
    field = plan.account_csm_field
    if field is not None:
        found = meta.salesforce.field("Account", field)
        if found is None:
            where = meta.root / SFDX_SOURCE / "objects" / "Account" / "fields" / f"{field}.field-meta.xml"
            yield (
                ("account_csm_field",),
                f"Account has no custom field {field!r} in q2c's SFDX project ({where})",
            )
        elif found.type != "Lookup" or found.reference_to != "User":
            yield ("account_csm_field",), f"Account.{field} is a {found.type}, not a lookup to User"
    yield from _check_unique("tasks", [s.key for s in plan.tasks], "key")
    yield from _check_unique("segments", [s.name for s in plan.segments], "name")
    yield from _check_unique("assignment", [r.name for r in plan.assignment], "name")
    yield from _check_unique("csms", [c.username.lower() for c in plan.csms], "username")
    earlier: set[str] = set()
    for i, step in enumerate(plan.tasks):
        for j, dependency in enumerate(step.after):
            if dependency == step.key:
                yield ("tasks", i, "after", j), f"step {step.key!r} cannot wait for itself"
            elif dependency not in earlier:
                known = [s.key for s in plan.tasks]
                what = "a later step" if dependency in known else "no step of this file"
                yield (
                    ("tasks", i, "after", j),
                    f"{dependency!r} is {what}; a step may wait only for steps listed before it",
                )
        for name in ("subject", "description"):
            for placeholder in _placeholders(getattr(step, name)):
                if placeholder not in PLACEHOLDERS:
                    yield (
                        ("tasks", i, name),
                        f"{{{placeholder}}} is not a placeholder; use {', '.join(sorted(PLACEHOLDERS))}",
                    )
        earlier.add(step.key)
    for i, segment in enumerate(plan.segments):
        for code in segment.min_amount:
            if not re.fullmatch(r"[A-Z]{3}", code):
                yield ("segments", i, "min_amount", code), f"{code!r} is not an ISO currency code such as USD"
    roster = {c.username.lower() for c in plan.csms}
    segments = {s.name for s in plan.segments}
    for i, rule in enumerate(plan.assignment):
        for j, username in enumerate(rule.csms):
            if username.lower() not in roster:
                yield ("assignment", i, "csms", j), f"{username!r} is not in [[onboarding.csms]]"
        for j, name in enumerate(rule.segment):
            if name not in segments:
                yield ("assignment", i, "segment", j), f"no [[onboarding.segments]] is named {name!r}"
        for j, name in enumerate(rule.region):
            if name not in plan.regions:
                yield ("assignment", i, "region", j), f"no region {name!r} in [onboarding.regions]"
    if plan.enabled and not plan.assignment:
        yield ("assignment",), "no assignment rule: every onboarding would park without a CSM"
    countries: dict[str, str] = {}
    for region, names in plan.regions.items():
        for name in names:
            key = _country_key(name)
            if key in countries and countries[key] != region:
                yield ("regions", region), f"{name!r} is in both {countries[key]!r} and {region!r}"
            countries[key] = region


def _check_unique(section: str, values: list[str], what: str) -> Iterator[tuple[Loc, str]]:
    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        if value in seen:
            yield (section, i, what), f"{value!r} is already used by {section}[{seen[value]}]"
        seen.setdefault(value, i)


def _placeholders(text: str) -> Iterator[str]:
    for _, name, _, _ in string.Formatter().parse(text):
        if name is not None:
            yield name


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def render(text: str, values: dict[str, str]) -> str:
    """A step's subject or description with its placeholders filled (a missing value: empty)."""
    return string.Formatter().vformat(text, (), _Blank(values))


# --- who the customer is, and who looks after it ------------------------------------------------------


class CustomerFacts(BaseModel):
    """What the assignment rules look at: the first order's currency and amount, the account's billing
    country, and the segment and region they give."""

    currency: str | None = None
    amount: Decimal | None = None
    country: str | None = None
    region: str | None = None
    segment: str | None = None

    def describe(self) -> str:
        shown = {"segment": self.segment, "region": self.region, "currency": self.currency}
        return ", ".join(f"{k} {v or '(none)'}" for k, v in shown.items())


def _country_key(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def customer_facts(
    plan: OnboardingPlan, *, country: str | None, amount: Decimal | None, currency: str | None
) -> CustomerFacts:
    region = None
    if country:
        key = _country_key(country)
        region = next((r for r, names in plan.regions.items() if key in map(_country_key, names)), None)
    segment = None
    for rule in plan.segments:
        if not rule.min_amount:
            segment = rule.name
            break
        minimum = rule.min_amount.get(currency or "")
        if minimum is not None and amount is not None and amount >= minimum:
            segment = rule.name
            break
    return CustomerFacts(currency=currency, amount=amount, country=country, region=region, segment=segment)


def matching_rule(plan: OnboardingPlan, facts: CustomerFacts) -> AssignmentRule | None:
    for rule in plan.assignment:
        if rule.segment and facts.segment not in rule.segment:
            continue
        if rule.region and facts.region not in rule.region:
            continue
        if rule.currency and facts.currency not in rule.currency:
            continue
        return rule
    return None


class CsmCandidate(BaseModel):
    """A roster username as Salesforce and q2c's store see it now."""

    username: str
    user_id: str | None = None  # None: no such user in Salesforce
    name: str | None = None
    active: bool = False
    manager_id: str | None = None
    manager_active: bool = False
    open_onboardings: int = 0
    capacity: int = 1

    @property
    def available(self) -> bool:
        return self.user_id is not None and self.active and self.open_onboardings < self.capacity


def choose_csm(
    rule: AssignmentRule,
    candidates: dict[str, CsmCandidate],
    *,
    last_username: str | None,
    exclude: Iterable[str] = (),
) -> CsmCandidate | None:
    """Round-robin: the first available CSM of the rule after the one it gave last (its list order,
    wrapping), skipping the excluded user ids; None when nobody is available."""
    excluded = set(exclude)
    order = [u.lower() for u in rule.csms]
    start = order.index(last_username.lower()) + 1 if last_username and last_username.lower() in order else 0
    for offset in range(len(order)):
        candidate = candidates.get(order[(start + offset) % len(order)])
        if candidate is not None and candidate.available and candidate.user_id not in excluded:
            return candidate
    return None


def unavailable_reason(
    rule: AssignmentRule, candidates: dict[str, CsmCandidate], exclude: Iterable[str] = ()
) -> str:
    """Why ``choose_csm`` found nobody, naming each CSM of the rule."""
    excluded = set(exclude)
    parts = []
    for username in rule.csms:
        c = candidates.get(username.lower())
        if c is None or c.user_id is None:
            parts.append(f"{username}: no such active user in Salesforce")
        elif c.user_id in excluded:
            parts.append(f"{username}: being replaced")
        elif not c.active:
            parts.append(f"{username}: inactive in Salesforce")
        else:
            parts.append(f"{username}: at capacity ({c.open_onboardings}/{c.capacity} open onboardings)")
    return f"assignment rule {rule.name!r} matched, but none of its CSMs is available: " + "; ".join(parts)


def no_rule_reason(facts: CustomerFacts) -> str:
    return (
        f"no assignment rule of the onboarding file matches this customer ({facts.describe()}; billing "
        f"country {facts.country or '(none)'}). Add a rule, or assign a CSM: q2c onboarding-reassign"
    )


# --- days ----------------------------------------------------------------------------------------------


def add_days(start: dt.date, days: int, mode: DayCount) -> dt.date:
    """``days`` calendar days, or business days (Monday to Friday) after ``start`` (before, when
    negative). Counting business days, a start on a weekend counts from the next Monday going forward
    and from the previous Friday going back."""
    if mode is DayCount.CALENDAR:
        return start + dt.timedelta(days=days)
    step = 1 if days >= 0 else -1
    day = start
    while day.weekday() >= 5:
        day += dt.timedelta(days=step)
    remaining = abs(days)
    while remaining:
        day += dt.timedelta(days=step)
        if day.weekday() < 5:
            remaining -= 1
    return day


def days_between(start: dt.date, end: dt.date, mode: DayCount) -> int:
    """How many (calendar or business) days ``add_days`` needs from ``start`` to reach ``end`` or beyond."""
    if end <= start:
        return 0
    if mode is DayCount.CALENDAR:
        return (end - start).days
    count = 0
    while add_days(start, count, mode) < end:
        count += 1
    return count


# --- the sequence ----------------------------------------------------------------------------------------


class StepStatus(StrEnum):
    WAITING = "waiting"  # not created yet: its day has not come, or steps it waits for are not done
    OPEN = "open"  # a Task in Salesforce, not done
    DONE = "done"
    SKIPPED = "skipped"  # a person skipped it, finished the onboarding early, or deleted its task
    CANCELLED = "cancelled"  # the onboarding was cancelled before it was done

    @property
    def finished(self) -> bool:
        return self in (StepStatus.DONE, StepStatus.SKIPPED, StepStatus.CANCELLED)


class StepState(BaseModel):
    key: str
    status: StepStatus = StepStatus.WAITING
    task_id: str | None = None
    owner_id: str | None = None
    created_on: dt.date | None = None
    due: dt.date | None = None
    done_on: dt.date | None = None
    escalated_on: dt.date | None = None
    escalated_to: str | None = None  # the user id the escalation task went to
    note: str | None = None  # why skipped, cancelled or not escalated


class Due(BaseModel):
    """A waiting step that may be created now: when, and due when."""

    key: str
    due: dt.date


class Agenda(BaseModel):
    create: list[Due] = Field(default_factory=list)
    escalate: list[str] = Field(default_factory=list)
    complete: bool = False
    next_date: dt.date | None = None  # the next day something becomes due; None: only events move it


def ready_on(
    plan: OnboardingPlan, steps: dict[str, StepState], step: StepRule, start: dt.date
) -> dt.date | None:
    """The day the steps ``step`` waits for were all done (the start without any); None while one is not."""
    ready = start
    for key in step.after:
        state = steps[key]
        if state.status not in (StepStatus.DONE, StepStatus.SKIPPED):
            return None
        ready = max(ready, state.done_on or start)
    return ready


def schedule_of(
    plan: OnboardingPlan, steps: dict[str, StepState], step: StepRule, start: dt.date, shift_days: int
) -> tuple[dt.date, dt.date] | None:
    """(created on, due on) of a waiting step, or None while a step it waits for is not done. Its due
    day is ``start + day`` (moved on by the days the onboarding was paused); it is created ``lead_days``
    before that, but not before the steps it waits for are done, and then still gets its lead time."""
    ready = ready_on(plan, steps, step, start)
    if ready is None:
        return None
    planned = add_days(start, step.day + shift_days, plan.days)
    create_on = max(add_days(planned, -step.lead_days, plan.days), ready)
    due = max(planned, add_days(create_on, step.lead_days, plan.days))
    return create_on, due


def agenda(
    plan: OnboardingPlan,
    steps: dict[str, StepState],
    *,
    start: dt.date,
    today: dt.date,
    shift_days: int = 0,
    paused: bool = False,
) -> Agenda:
    """What the onboarding does today: the steps to create, the open ones to escalate, whether it is
    complete, and the next day anything becomes due. Paused, nothing is created or escalated."""
    result = Agenda()
    if all(s.status.finished for s in steps.values()):
        result.complete = True
        return result
    upcoming: list[dt.date] = []
    for step in plan.tasks:
        state = steps[step.key]
        if state.status is StepStatus.WAITING:
            planned = schedule_of(plan, steps, step, start, shift_days)
            if planned is None:
                continue
            create_on, due = planned
            if create_on <= today:
                result.create.append(Due(key=step.key, due=due))
            else:
                upcoming.append(create_on)
        elif state.status is StepStatus.OPEN and step.escalate and state.escalated_on is None and state.due:
            escalate_on = add_days(state.due, plan.escalation_days(step), plan.days)
            if escalate_on <= today:
                result.escalate.append(step.key)
            else:
                upcoming.append(escalate_on)
    if paused:
        result.create, result.escalate = [], []
    result.next_date = min(upcoming) if upcoming else None
    return result


def sequence_end(
    plan: OnboardingPlan, steps: dict[str, StepState], start: dt.date, shift_days: int
) -> dt.date:
    """The day the last step is due as things stand (steps still waiting for others counted from today's
    plan: each as if what it waits for were done on its own due day)."""
    due: dict[str, dt.date] = {}
    for step in plan.tasks:
        state = steps[step.key]
        if state.due is not None:
            due[step.key] = state.due
            continue
        ready = max([start, *(due.get(k, start) for k in step.after)])
        planned = add_days(start, step.day + shift_days, plan.days)
        due[step.key] = max(planned, add_days(ready, step.lead_days, plan.days))
    return max(due.values())


def next_open(plan: OnboardingPlan, steps: dict[str, StepState]) -> StepState | None:
    """The open step due first (the one a person looks at next)."""
    open_steps = [s for s in steps.values() if s.status is StepStatus.OPEN and s.due is not None]
    return min(open_steps, key=lambda s: (s.due or dt.date.max, s.key)) if open_steps else None

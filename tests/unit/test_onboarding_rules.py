"""The onboarding rules, without any server: the file's validation (every problem with its line), the
customer's facts, CSM choice (rules, round-robin, capacity, exclusions), day arithmetic and the agenda
(what is due, dependencies, lead days, escalation, pauses)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from q2c.domain.messages.onboarding import customer_of_task_key, task_key
from q2c.domain.onboarding import (
    DEFAULT_ONBOARDING_PATH,
    AssignmentRule,
    CsmCandidate,
    DayCount,
    OnboardingFileError,
    OnboardingPlan,
    StepState,
    StepStatus,
    add_days,
    agenda,
    choose_csm,
    customer_facts,
    days_between,
    load_onboarding_plan,
    matching_rule,
    render,
    sequence_end,
    unavailable_reason,
)

START = dt.date(2026, 12, 7)  # a Monday
DAY = dt.timedelta(days=1)


def plan(**changes: object) -> OnboardingPlan:
    return load_onboarding_plan().model_copy(update=changes)


def fresh(p: OnboardingPlan) -> dict[str, StepState]:
    return {step.key: StepState(key=step.key) for step in p.tasks}


def test_the_shipped_file_is_valid_and_says_what_the_issue_asks() -> None:
    p = load_onboarding_plan()
    assert p.enabled and [(s.key, s.day) for s in p.tasks] == [
        ("kickoff", 0),
        ("welcome_pack", 3),
        ("checkin", 14),
        ("review", 30),
    ]
    assert p.step("review").after == ["checkin"] and p.account_csm_field == "Customer_Success_Manager__c"
    assert "enabled = true" in DEFAULT_ONBOARDING_PATH.read_text()  # the tests' switch-off relies on it


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "onboarding.toml"
    path.write_text(text)
    return path


BASE = """
[onboarding]
account_csm_field = "Customer_Success_Manager__c"

[[onboarding.csms]]
username = "a@x.test"

[[onboarding.assignment]]
name = "all"
csms = ["a@x.test"]
"""


def test_every_problem_of_a_broken_file_is_named_with_its_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE
        + """
[[onboarding.assignment]]
name = "emea"
region = ["EMEA"]
csms = ["b@x.test"]

[[onboarding.tasks]]
key = "review"
subject = "Review {acount}"
day = 30
after = ["checkin"]

[[onboarding.tasks]]
key = "checkin"
subject = "Check-in"
day = 14
""",
    )
    with pytest.raises(OnboardingFileError) as error:
        load_onboarding_plan(path)
    text = str(error.value)
    assert "has 4 problems" in text
    assert "line 14: onboarding.assignment[1].region[0]: no region 'EMEA'" in text
    assert "line 15: onboarding.assignment[1].csms[0]: 'b@x.test' is not in [[onboarding.csms]]" in text
    assert "line 19: onboarding.tasks[0].subject: {acount} is not a placeholder" in text
    assert "line 21: onboarding.tasks[0].after[0]: 'checkin' is a later step" in text


def test_a_wrong_type_or_unknown_key_is_refused_with_its_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path, BASE + '\n[[onboarding.tasks]]\nkey = "k"\nsubject = "s"\nday = -1\nowner = "boss"\n'
    )
    with pytest.raises(OnboardingFileError) as error:
        load_onboarding_plan(path)
    assert "onboarding.tasks[0].day: Input should be greater than or equal to 0" in str(error.value)
    assert "onboarding.tasks[0].owner: Input should be 'csm', 'account_owner' or 'csm_manager'" in str(
        error.value
    )


def test_the_account_field_must_be_a_user_lookup_the_metadata_defines(tmp_path: Path) -> None:
    for field, problem in (
        ("CSM__c", "Account has no custom field 'CSM__c'"),
        ("Credit_Hold__c", "Account.Credit_Hold__c is a Checkbox, not a lookup to User"),
    ):
        text = (
            BASE.replace("Customer_Success_Manager__c", field)
            + '\n[[onboarding.tasks]]\nkey = "k"\nsubject = "s"\nday = 0\n'
        )
        with pytest.raises(OnboardingFileError, match=problem):
            load_onboarding_plan(_write(tmp_path, text))


def test_facts_segment_by_the_first_orders_amount_and_region_by_country() -> None:
    p = load_onboarding_plan()
    big = customer_facts(p, country="United Kingdom", amount=Decimal("40000"), currency="GBP")
    assert (big.segment, big.region) == ("enterprise", "EMEA")
    assert customer_facts(p, country="de", amount=Decimal("9200"), currency="EUR").segment == "mid_market"
    # A currency no segment lists reaches only the catch-all; an unknown country has no region.
    odd = customer_facts(p, country="Atlantis", amount=Decimal("1000000"), currency="JPY")
    assert (odd.segment, odd.region) == ("smb", None)
    names = [
        getattr(matching_rule(p, facts), "name", None)
        for facts in (big, customer_facts(p, country="CA", amount=Decimal(5), currency="CAD"), odd)
    ]
    assert names == ["Enterprise", "Americas", None]


def _candidates(**spec: tuple[bool, int, int]) -> dict[str, CsmCandidate]:
    return {
        name: CsmCandidate(
            username=name, user_id=f"005{name}", active=active, open_onboardings=n, capacity=cap
        )
        for name, (active, n, cap) in spec.items()
    }


def test_round_robin_goes_on_after_the_last_one_and_skips_the_unavailable() -> None:
    rule = AssignmentRule(name="r", csms=["a", "b", "c"])
    ok = _candidates(a=(True, 0, 2), b=(True, 0, 2), c=(True, 0, 2))
    picks, last = [], None
    for _ in range(4):
        chosen = choose_csm(rule, ok, last_username=last)
        assert chosen is not None
        picks.append(chosen.username)
        last = chosen.username
    assert picks == ["a", "b", "c", "a"]
    mixed = _candidates(a=(True, 2, 2), b=(False, 0, 2), c=(True, 1, 2))
    assert choose_csm(rule, mixed, last_username="c").username == "c"  # type: ignore[union-attr]
    assert choose_csm(rule, mixed, last_username="c", exclude=["005c"]) is None
    reason = unavailable_reason(rule, mixed, ["005c"])
    assert "a: at capacity (2/2" in reason and "b: inactive" in reason and "c: being replaced" in reason


def test_business_days_skip_weekends_both_ways() -> None:
    friday, saturday = dt.date(2026, 12, 11), dt.date(2026, 12, 12)
    assert add_days(friday, 1, DayCount.BUSINESS) == dt.date(2026, 12, 14)
    assert add_days(saturday, 0, DayCount.BUSINESS) == dt.date(2026, 12, 14)
    assert add_days(START, 10, DayCount.BUSINESS) == dt.date(2026, 12, 21)
    assert add_days(dt.date(2026, 12, 14), -1, DayCount.BUSINESS) == friday
    assert days_between(START, dt.date(2026, 12, 14), DayCount.BUSINESS) == 5
    assert days_between(START, START, DayCount.CALENDAR) == 0


def test_the_agenda_creates_each_step_on_its_day_with_its_lead_and_waits_for_dependencies() -> None:
    p = plan()
    steps = fresh(p)
    today = agenda(p, steps, start=START, today=START)
    assert [d.key for d in today.create] == [
        "kickoff"
    ] and today.next_date == START + 2 * DAY  # the pack's lead
    steps["kickoff"] = StepState(key="kickoff", status=StepStatus.OPEN, due=START)
    day2 = agenda(p, steps, start=START, today=START + 2 * DAY)
    assert [(d.key, d.due) for d in day2.create] == [("welcome_pack", START + 3 * DAY)]
    assert day2.escalate == ["kickoff"]  # due day 0, two days later
    # The check-in waits for the kickoff, however late; then it is due on its day, or the day it is ready.
    late = agenda(p, steps, start=START, today=START + 20 * DAY)
    assert "checkin" not in [d.key for d in late.create]
    steps["kickoff"] = StepState(key="kickoff", status=StepStatus.DONE, due=START, done_on=START + 20 * DAY)
    ready = agenda(p, steps, start=START, today=START + 20 * DAY)
    assert [(d.key, d.due) for d in ready.create if d.key == "checkin"] == [("checkin", START + 20 * DAY)]


def test_a_paused_agenda_creates_and_escalates_nothing_and_the_shift_moves_days_on() -> None:
    p = plan()
    steps = fresh(p)
    steps["kickoff"] = StepState(key="kickoff", status=StepStatus.OPEN, due=START)
    paused = agenda(p, steps, start=START, today=START + 10 * DAY, paused=True)
    assert paused.create == [] and paused.escalate == []
    moved = agenda(p, steps, start=START, today=START + 2 * DAY, shift_days=5)
    assert (moved.create, moved.escalate, moved.next_date) == ([], ["kickoff"], START + 7 * DAY)
    assert agenda(p, steps, start=START, today=START + 7 * DAY, shift_days=5).create[0].due == START + 8 * DAY


def test_complete_when_every_step_is_done_or_skipped_and_the_end_date() -> None:
    p = plan()
    steps = {k: StepState(key=k, status=StepStatus.DONE, done_on=START) for k in fresh(p)}
    steps["welcome_pack"].status = StepStatus.SKIPPED
    assert agenda(p, steps, start=START, today=START).complete
    assert sequence_end(p, fresh(p), START, 0) == START + 30 * DAY
    assert sequence_end(p, fresh(p), START, 4) == START + 34 * DAY


def test_task_keys_name_their_customer_and_placeholders_fill() -> None:
    key = task_key("1234", 2, "kickoff")
    assert key == "onboarding:1234:2:kickoff" and customer_of_task_key(key) == "1234"
    assert customer_of_task_key("credit-hold:12:2026-12-07") is None
    assert customer_of_task_key("onboarding:abc:1:x") is None
    assert render("Kickoff with {account} ({missing})", {"account": "Acme"}) == "Kickoff with Acme ()"

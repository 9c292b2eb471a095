"""Known business errors: their type names, shared by the activities that raise them and the workflows
that decide what each one means (park, or end). Never retried by Temporal."""

from __future__ import annotations

from enum import StrEnum


class BusinessError(StrEnum):
    OPPORTUNITY_NOT_FOUND = "OpportunityNotFound"
    ACCOUNT_NOT_FOUND = "AccountNotFound"
    MAPPING_INVALID = "MappingInvalid"
    INACTIVE_ITEM = "InactiveItem"
    ONBOARDING_FILE_INVALID = "OnboardingFileInvalid"
    ACCOUNT_NOT_LINKED = "AccountNotLinked"

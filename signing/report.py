"""Validation report of a provenance signature, in the terms of ETSI EN 319 102-1.

Each named check is passed, failed or not evaluated (``passed is None``: an earlier check
made it impossible, or no source was given, e.g. revocation), with a reason. The overall
indication (ETSI EN 319 102-1 §5.1.3, https://www.etsi.org/deliver/etsi_en/319100_319199/31910201/):

- ``TOTAL-FAILED``: the signature is broken — format, algorithm, ``crit``, signature value,
  target, content, certificate validity at the signing time, or the signer's identity;
- ``INDETERMINATE``: nothing is broken but trust cannot be established — no path to a trust
  anchor, path constraints (CA flags, keyUsage), revocation revoked or unknown;
- ``TOTAL-PASSED``: every check passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TOTAL_PASSED = "TOTAL-PASSED"
TOTAL_FAILED = "TOTAL-FAILED"
INDETERMINATE = "INDETERMINATE"

#: Checks whose failure makes the signature TOTAL-FAILED, with the ETSI sub-indication.
FAILING_CHECKS = {
    "format": "FORMAT_FAILURE",
    "algorithm": "FORMAT_FAILURE",
    "crit": "FORMAT_FAILURE",
    "signature": "SIG_CRYPTO_FAILURE",
    "validity-at-signing-time": "EXPIRED",  # or NOT_YET_VALID, see Check.sub_indication
    "identity": "SIG_CONSTRAINTS_FAILURE",
    "target": "FORMAT_FAILURE",
    "content": "FORMAT_FAILURE",
    # What the Provenance says of the signature that it does not bind: its signer an agent,
    # its activity what the target is, its format the one verified.
    "claims": "SIG_CONSTRAINTS_FAILURE",
}
#: Checks whose failure (or absence of an answer) leaves the signature INDETERMINATE.
TRUST_CHECKS = {
    "chain": "NO_CERTIFICATE_CHAIN_FOUND",  # or CHAIN_CONSTRAINTS_FAILURE
    "key-usage": "CHAIN_CONSTRAINTS_FAILURE",
    "revocation": "TRY_LATER",  # or REVOKED_NO_POE
}
CHECK_NAMES = (
    "format",
    "algorithm",
    "crit",
    "signature",
    "chain",
    "validity-at-signing-time",
    "key-usage",
    "identity",
    "target",
    "content",
    "revocation",
)


@dataclass(frozen=True)
class Check:
    """One named verification step."""

    name: str
    passed: bool | None  # None: not evaluated
    reason: str
    sub_indication: str | None = None  # overrides the default of the check when it fails

    def to_dict(self) -> dict[str, Any]:
        status = {True: "passed", False: "failed", None: "not-evaluated"}[self.passed]
        return {"name": self.name, "status": status, "reason": self.reason}


@dataclass(frozen=True)
class VerificationReport:
    """All checks of one signature and the overall ETSI indication."""

    checks: tuple[Check, ...]
    signer_personal_id: str | None = None
    signer_organization_id: str | None = None
    signed_at: datetime | None = None
    header: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def indication(self) -> str:
        """TOTAL-PASSED, TOTAL-FAILED or INDETERMINATE."""
        return self._outcome()[0]

    @property
    def sub_indication(self) -> str | None:
        """The ETSI sub-indication of the first decisive check; None when passed."""
        return self._outcome()[1]

    @property
    def passed(self) -> bool:
        return self.indication == TOTAL_PASSED

    def check(self, name: str) -> Check:
        """The check called `name` (KeyError if there is none)."""
        for item in self.checks:
            if item.name == name:
                return item
        raise KeyError(name)

    def failures(self) -> list[Check]:
        return [item for item in self.checks if item.passed is False]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, e.g. for an operation's output."""
        return {
            "indication": self.indication,
            "subIndication": self.sub_indication,
            "signerPersonalId": self.signer_personal_id,
            "signerOrganizationId": self.signer_organization_id,
            "signedAt": self.signed_at.strftime("%Y-%m-%dT%H:%M:%SZ") if self.signed_at else None,
            "checks": [item.to_dict() for item in self.checks],
        }

    def _outcome(self) -> tuple[str, str | None]:
        for item in self.checks:
            if item.passed is False and item.name in FAILING_CHECKS:
                return TOTAL_FAILED, item.sub_indication or FAILING_CHECKS[item.name]
        for item in self.checks:
            if item.passed is False and item.name in TRUST_CHECKS:
                return INDETERMINATE, item.sub_indication or TRUST_CHECKS[item.name]
        for item in self.checks:  # unanswered (e.g. revocation status unknown)
            if item.passed is None and (item.sub_indication or item.name != "revocation"):
                return INDETERMINATE, item.sub_indication
        return TOTAL_PASSED, None

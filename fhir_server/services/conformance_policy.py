"""What a resource must conform to before it is stored: the base R4 definition, the profiles
it claims in `meta.profile` that the server knows, the profiles the hospital requires for
its type (`FHIR_REQUIRED_PROFILES`), the formats of Vietnamese identifier systems and the
nesting of Vietnamese administrative addresses (http://hl7.org/fhir/R4/validation.html,
http://hl7.org/fhir/R4/profiling.html).

A base-structure error is a 400, as before; a resource that is valid FHIR but breaks a
profile or an identifier rule is a 422 (http://hl7.org/fhir/R4/http.html#update: "violated
applicable FHIR profiles or server business rules")."""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from fhir_server.conformance.admin_addresses import address_issues, as_of_the_reorganisation
from fhir_server.conformance.bundle_rules import stored_bundle_issues
from fhir_server.conformance.definitions import registry
from fhir_server.conformance.identifier_systems import identifier_issues
from fhir_server.conformance.issue_lists import capped
from fhir_server.conformance.personal_id_checks import personal_id_issues
from fhir_server.conformance.profile_tree import profile_problem
from fhir_server.conformance.profiles import declared_profiles, unknown_profiles
from fhir_server.conformance.validation import validation
from fhir_server.errors import InvalidResource, Issue, Unprocessable


class ProfileConfigurationError(ValueError):
    """FHIR_REQUIRED_PROFILES names a profile the server cannot check."""


def _is_error(issue: Issue) -> bool:
    return issue.severity in ("error", "fatal")


def _is_profile_flaw(issue: Issue) -> bool:
    """A warning about the profile itself (a discriminator it cannot use, ...), not about the
    resource: `$validate` and `fhir-server package install` report those. That a profile
    could not be used at all the client is told, as for an unknown one."""
    return (issue.code == "processing" and issue.profile is not None and not _is_error(issue)
            and issue.message_id != "profile-no-snapshot")


@dataclass(frozen=True)
class ConformancePolicy:
    """The profiles required per resource type; empty: only what resources claim."""

    required_profiles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def configured(cls, required: Mapping[str, list[str]]) -> "ConformancePolicy":
        """The policy of FHIR_REQUIRED_PROFILES; a profile the server does not hold, or one
        for another type, is a start-up error naming it."""
        for resource_type, urls in required.items():
            for url in urls:
                definition = registry().structure_definition(url)
                if definition is None:
                    raise ProfileConfigurationError(
                        f"FHIR_REQUIRED_PROFILES: profile {url} (for {resource_type}) is not "
                        "installed; install the package that defines it (fhir-server package "
                        "install)"
                    )
                if definition["type"] != resource_type:
                    raise ProfileConfigurationError(
                        f"FHIR_REQUIRED_PROFILES: profile {url} constrains "
                        f"{definition['type']}, not {resource_type}"
                    )
                if (problem := profile_problem(url)) is not None:
                    # Required, it would refuse every write of the type, for the profile's
                    # fault: not the server's to start so.
                    raise ProfileConfigurationError(
                        f"FHIR_REQUIRED_PROFILES: profile {url} (for {resource_type}) cannot be "
                        f"used: {problem}")
        return cls({kind: tuple(urls) for kind, urls in required.items()})

    def profiles_for(self, resource: dict, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Every profile a resource is checked against, each once."""
        required = self.required_profiles.get(str(resource.get("resourceType")), ())
        return tuple(dict.fromkeys((*required, *declared_profiles(resource), *extra)))

    def issues(self, resource: dict, extra_profiles: tuple[str, ...] = ()) -> list[Issue]:
        """Every issue of a resource, without raising: what `$validate` reports (with
        others, `capped` there)."""
        return self._issues(resource, extra_profiles)[0]

    def check(self, resource: dict) -> tuple[Issue, ...]:
        """Raise (400 base structure, 422 profile or identifier rule) unless the resource
        may be stored; return the warnings to pass on to the client."""
        found, structural = self._issues(resource, ())
        if structural:
            raise InvalidResource(structural[0].diagnostics, issues=capped(found))
        errors = [issue for issue in found if _is_error(issue)]
        if errors:
            raise Unprocessable(errors[0].diagnostics, issues=capped(found))
        return tuple(capped([issue for issue in found if not _is_profile_flaw(issue)]))

    def _issues(self, resource: dict, extra_profiles: tuple[str, ...]
                ) -> tuple[list[Issue], list[Issue]]:
        """(every issue, the errors against the base definition); identifier rules are
        checked unless the resource's structure is broken, as profiles are."""
        checked = validation(resource, self.profiles_for(resource, extra_profiles))
        found = as_of_the_reorganisation(resource, checked.issues)
        structural = [issue for issue in found if _is_error(issue) and issue.profile is None]
        if not checked.malformed:
            found += (identifier_issues(resource) + personal_id_issues(resource)
                      + address_issues(resource) + stored_bundle_issues(resource))
        asked = {*self.required_profiles.get(str(resource.get("resourceType")), ()),
                 *extra_profiles}
        found = [_claim_not_checked(issue) if issue.message_id == "profile-no-snapshot"
                 and issue.profile not in asked else issue for issue in found]
        return found + unknown_profiles(resource), structural


def _claim_not_checked(issue: Issue) -> Issue:
    """A profile the resource only claims, held but unusable (its base is missing, say): as
    for a claimed profile the server does not know, the claim is kept and the client
    warned; the hospital's required profiles and `$validate`'s `profile` stay errors."""
    note = "; the resource was checked without it, and its meta.profile claim is kept as sent"
    note_vi = ("; tài nguyên được kiểm tra không theo hồ sơ này, và meta.profile được giữ "
               "nguyên như đã gửi")
    return replace(issue, severity="warning", diagnostics=issue.diagnostics + note,
                   diagnostics_vi=(issue.diagnostics_vi or issue.diagnostics) + note_vi)

"""Finding people, for the staff who work with them, and recording that they were read: the one
rule and code behind the `/people` pages and the API's `/api/v1/people` operations.

Whom a member of staff may read: the people who hold or held a position at an organisation their
acting position covers — its own, and its descendants where it oversees others
(`permissions.covered_organisations`, the scope of the reports too). Access and belonging come
only through positions (rule SC8): a leaver's card and record stay theirs (SC10), so the sites they
worked at still find them; a locum is found by each site that holds their position (DS15). People
placed nowhere yet are read only by those covering every organisation (the registration
authority). A relying service's token reads every person, as `permissions.SERVICE_ACTIONS` allows
it anywhere (it asks who a user is). A person outside the reader's scope is not found: a reader
is never told whether a person they may not read exists.

What a search takes: a 12-digit user id, a whole email address (any case), or a name — the start
of the family name, after the start of the given names ("Tay", "Alex Taylor"). Each is one range
of an index (migration 0002): names and addresses are compared folded to upper case, byte by
byte, so the people matching a prefix are read in the order they are listed, a page at a time,
however many people the directory holds.

Every search or list and every person read by staff, on a page or through the API, is an audit
ledger entry (rules PP9, PP15), as the ledger's own searches are. A relying service's reads are not
(`recorded`): they are the service's sign-in traffic, like its decisions, and SCIM, FHIR and OpenID
Connect keep theirs in the interop read log.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import CharField, Exists, Func, OuterRef, QuerySet

from careaccess.core import clock, permissions
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.errors import InvalidInput

from .models import Assignment, Organisation, Person
from .rules import is_user_id
from .selectors import live_assignment_filter

READ = "person.read"
NAME_PUNCTUATION = frozenset("-'’.")
MAX_QUERY = 200


class Folded(Func):
    """A name or address as the search indexes hold it: upper case, compared byte by byte."""

    function = "UPPER"
    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = self.as_sql(compiler, connection, **extra)
        return f'({sql} COLLATE "C")', params


def fold(text: str) -> str:
    return text.upper()


def _after_prefix(prefix: str) -> str:
    """The first text after every text starting with `prefix`, in byte (code point) order."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


@dataclass(frozen=True)
class Query:
    """What was typed, understood: by "user ID", "email address" or "name"."""

    by: str
    text: str
    given: str = ""
    family: str = ""


def parse(typed: str) -> Query:
    """The search a typed text asks for; InvalidInput {"q": message} when it cannot be one."""
    text = " ".join(str(typed or "").split())
    if not text:
        raise InvalidInput({"q": "Enter a user ID, a name or an email address"})
    if len(text) > MAX_QUERY:
        raise InvalidInput({"q": f"Enter {MAX_QUERY} characters or fewer"})
    digits = text.replace(" ", "")
    if digits.isdigit():
        if not is_user_id(digits):
            raise InvalidInput({"q": "A user ID has 12 digits, like 123456789012"})
        return Query("user ID", digits)
    if "@" in text:
        try:
            validate_email(text)
        except ValidationError:
            raise InvalidInput({"q": "Enter the whole email address, like firstname.lastname@nhs.net"}) from None
        return Query("email address", text)
    words = text.split(" ")
    if not all(any(c.isalpha() for c in word) and all(c.isalpha() or c in NAME_PUNCTUATION for c in word)
               for word in words):
        raise InvalidInput({"q": "A name has letters, spaces, hyphens and apostrophes only"})
    return Query("name", text, given=" ".join(words[:-1]), family=words[-1])


def _placed_in(ids: set[int], person: str = "pk") -> Exists:
    """Whether the person (the row itself, or the person a row is about: `person="person_id"`)
    holds or held a position at one of the organisations `ids`."""
    return Exists(Assignment.objects.filter(person_id=OuterRef(person), position__organisation_id__in=ids))


def about_readable(actor: Actor, rows: QuerySet, action: str, person: str = "person_id") -> QuerySet:
    """`rows` (assignments, accounts: anything about a person, named by the field `person`) narrowed
    to those about people the actor may take `action` about, by the same rule as reading them."""
    ids = permissions.covered_organisations(actor, action)
    return rows if ids is None else rows.filter(_placed_in(ids, person))


def matching(actor: Actor, query: Query | None) -> QuerySet[Person]:
    """The people the actor may read who match `query` (all of them for None), in the order of the
    name index. Forbidden when the actor may read nobody anywhere."""
    permissions.authorise(actor, READ)
    people = Person.objects.alias(family_key=Folded("family_name"), given_key=Folded("given_name"))
    if query is None:
        pass
    elif query.by == "user ID":
        people = people.filter(uid=query.text)
    elif query.by == "email address":
        people = people.alias(email_key=Folded("email")).filter(email_key=fold(query.text))
    else:
        family = fold(query.family)
        people = people.filter(family_key__gte=family, family_key__lt=_after_prefix(family))
        if query.given:
            given = fold(query.given)
            people = people.filter(given_key__gte=given, given_key__lt=_after_prefix(given))
    return about_readable(actor, people, READ, "pk").order_by("family_key", "given_key", "id")


@dataclass
class Result:
    """One page of people; `positions` maps each one's id to their live positions' labels."""

    query: Query
    people: list[Person]
    positions: dict[int, list[str]]
    page: int
    size: int
    has_next: bool

    @property
    def first(self) -> int:
        return (self.page - 1) * self.size + 1

    @property
    def last(self) -> int:
        return self.first + len(self.people) - 1


def live_positions(people: list[Person]) -> dict[int, list[str]]:
    rows = (Assignment.objects.filter(live_assignment_filter(clock.today()), person__in=people)
            .select_related("position__organisation").order_by("starts_on", "id"))
    result: dict[int, list[str]] = {}
    for a in rows:
        organisation = a.position.organisation
        result.setdefault(a.person_id, []).append(f"{a.position.name}, {organisation.name} ({organisation.code})")
    return result


def search(actor: Actor, typed: str, *, page: int = 1, size: int) -> Result:
    """One page of the people matching `typed` (no total: a page stays fast on a national directory),
    recorded in the ledger with the user ids it showed."""
    query = parse(typed)
    page = max(1, page)
    found = list(matching(actor, query)[(page - 1) * size: page * size + 1])
    people = found[:size]
    record_search(actor, query, [p.uid for p in people])
    return Result(query, people, live_positions(people), page, size, has_next=len(found) > size)


def recorded(actor: Actor) -> bool:
    """Are this actor's reads of people audit ledger entries? Staff's (and the console's) are; a
    relying service's are not (see the module's description)."""
    return actor.kind != "service"


def record_search(actor: Actor, query: Query | None, shown: list[str], *, filters: dict | None = None) -> None:
    """One ledger entry for one search or list (page or API call): what was asked (`query`, None
    for a list of everyone the actor may read; the API's other `filters`) and the user ids shown."""
    if not recorded(actor):
        return
    after = {"by": query.by, "query": query.text} if query is not None else {"by": None, "query": None}
    if filters:
        after["filters"] = filters
    with transaction.atomic():
        acting = permissions.authorise(actor, READ)
        ledger.record("person.searched", actor=acting, target_type="person", target_id="search",
                      after={**after, "shown": shown})


@dataclass(frozen=True)
class Reading:
    """A person the actor may read, the actor acting in the position that allows it, and the
    organisation through which it does (None for a person placed nowhere)."""

    person: Person
    acting: Actor
    organisation: Organisation | None


def reading(actor: Actor, person: Person, action: str = READ) -> Reading | None:
    """May the actor take `action` (person.read, audit.read, ...) about this person: at one of the
    organisations where they hold or held a position, or anywhere when they were never placed?"""
    organisations = list(Organisation.objects.filter(positions__assignments__person=person).distinct().order_by("id"))
    found = permissions.first_covering(actor, action, organisations)
    if found is not None:
        return Reading(person, *found)
    if not organisations and permissions.covered_organisations(actor, action) is None:
        return Reading(person, permissions.authorise(actor, action), None)
    return None


def find(actor: Actor, uid: str, action: str = READ) -> Reading | None:
    """The person with this user id when the actor may take `action` about them (person.read,
    access.read); None when there is no such person or they are outside the actor's scope (not told
    apart: a reader learns nothing about the people they may not read). Not recorded: `read_person`."""
    uid = str(uid or "").strip()
    person = Person.objects.filter(uid=uid).first() if is_user_id(uid) else None
    return reading(actor, person, action) if person is not None else None


def read_person(actor: Actor, uid: str, action: str = READ, *, about: dict | None = None) -> Reading | None:
    """`find`, the read recorded (`about`: what of the person was read, when not their record)."""
    found = find(actor, uid, action)
    if found is not None and recorded(actor):
        person = found.person
        with transaction.atomic():
            ledger.record("person.viewed", actor=found.acting, target_type="person", target_id=person.uid,
                          after=about, person_uid=person.uid,
                          organisation_code=found.organisation.code if found.organisation else None)
    return found

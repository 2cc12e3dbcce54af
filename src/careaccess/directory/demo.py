"""The demo directory behind `careaccess demo load` and `careaccess demo logins`.

One integrated care board, whose registration authority is a unit of it and which oversees every
organisation below it: a dozen GP practices, pharmacies, care homes (some in a care-home group),
domiciliary care providers and an acute trust with its own service desk. Each organisation has
realistic positions carrying job-role and activity codes from `rbac-examples.csv` (shipped beside
this module) and the careaccess staff activities (settings.CAREACCESS_STAFF_ACTIVITIES); the four
services of the source documents; a few hundred people with assignments and accounts; and one
demo sign-in per staff actor plus one plain user.

Everything is written through `careaccess.directory.services` as the system actor "demo", so every
row has its audit entry. The plan (`build_plan`) is computed from a fixed seed with no database
access; the loader looks every planned row up by its natural key first (organisation code, unit
code, position name, NI number, ...) and only creates what is missing, so a second `demo load`
writes nothing at all, audit entries included. The whole load is one transaction.

THE DEMO PASSWORDS ARE PUBLIC (they are printed by `careaccess demo logins` and written below).
Never load the demo into a deployment that real people use.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from django.conf import settings
from django.db import transaction

from careaccess.core import clock
from careaccess.core.context import Actor

from . import rules, services
from .models import Account, Activity, Assignment, JobRole, Organisation, OrganisationalUnit, Person, Position, Service

CSV_PATH = Path(__file__).with_name("rbac-examples.csv")
SEED = 2026
ACTOR_LABEL = "demo"

# The careaccess-local staff activities (B91xx) have no national name: these are theirs. The
# national ones (B1300 sponsor, B0062 local administration) take their name from the CSV.
STAFF_ACTIVITY_NAMES = {
    "sponsor": "Approve RA Requests",
    "authoriser": "careaccess: Authorise Access Requests (authoriser)",
    "lead_correspondent": "careaccess: Request and Review Provider Accounts (lead correspondent)",
    "ra_agent": "careaccess: Registration Authority Agent",
    "ra_manager": "careaccess: Registration Authority Manager",
    "service_desk": "careaccess: Log and Validate Requests (service desk)",
    "local_administrator": "Local System Administration",
    "auditor": "careaccess: Read the Audit Ledger and Reports (auditor)",
}
# An RA manager does everything an RA agent does (DESIGN.md): the manager's activity includes it.
STAFF_ACTIVITY_INCLUDES = {"ra_manager": ("ra_agent",)}

ACTORS = ("sponsor", "authoriser", "lead_correspondent", "ra_agent", "ra_manager", "service_desk",
          "local_administrator", "auditor", "user")


def demo_password(actor: str) -> str:
    """The public demo password of a demo login (demo only: printed by `careaccess demo logins`)."""
    return f"demo-{actor.replace('_', '-')}-2026"


def staff(capability: str) -> str:
    """The activity code that grants a staff capability in this deployment."""
    return settings.CAREACCESS_STAFF_ACTIVITIES[capability]


# --- services (rules CC*, PP*, NM*, DS18) ---

SERVICES = [
    dict(code="connecting-care", name="Connecting Care (shared care record)", allowed_purposes=["direct care"],
         approver_kind="authoriser", sla_days=5, inactivity_days=60, review_months=12, card_only=False,
         roles=[{"code": "care-professional", "name": "Care Professional",
                 "description": "views all of the shared care record (rule CC3)"},
                {"code": "administrator", "name": "Administrator",
                 "description": "views demographics and appointments only (rule CC3)"}]),
    dict(code="provider-portal", name="Care Provider Portal", allowed_purposes=["direct care"],
         approver_kind="lead_correspondent", sla_days=5, inactivity_days=60, review_months=3, card_only=False,
         roles=[{"code": "lead-correspondent", "name": "Lead correspondent",
                 "description": "requests and reviews the provider's accounts (rules PP3, PP6)"},
                {"code": "care-coordinator", "name": "Care coordinator",
                 "description": "care packages, service users and visit schedules"},
                {"code": "finance", "name": "Finance", "description": "invoices, payments and statements"},
                {"code": "read-only", "name": "Read only", "description": "views the provider's packages"}]),
    dict(code="nhsmail", name="NHSmail", allowed_purposes=["direct care"], approver_kind="sponsor",
         sla_days=5, inactivity_days=90, review_months=12, card_only=False,
         roles=[{"code": "mailbox-user", "name": "Mailbox user", "description": "an individual mailbox (rule NM8)"},
                {"code": "local-administrator", "name": "Local administrator",
                 "description": "registers and manages accounts of organisations it administers (rule NM6)"}]),
    dict(code="smartcard", name="Smartcard access (Spine)", allowed_purposes=["direct care"], approver_kind="sponsor",
         sla_days=5, inactivity_days=365, review_months=12, card_only=True,
         roles=[{"code": "card-holder", "name": "Card holder", "description": "signs in with a smartcard only (DS18)"}]),
]


# --- the plan: pure data from a fixed seed ---

@dataclass
class OrgPlan:
    code: str
    name: str
    kind: str
    parent: str | None = None
    short_name: str = ""
    oversees_descendants: bool = False
    cqc_number: str = ""
    has_service_desk: bool = False
    domain: str = "nhs.net"
    units: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class PositionPlan:
    organisation: str
    name: str
    job_roles: list[str]
    activities: list[str]
    service_roles: list[str]
    assignable_by_sponsors: bool = False
    unit: str | None = None


@dataclass
class AssignmentPlan:
    organisation: str
    position: str
    starts_days_ago: int
    ends_in_days: int | None = None  # None: open-ended; negative: ended in the past (a leaver)


@dataclass
class PersonPlan:
    title: str
    given_name: str
    family_name: str
    date_of_birth: dt.date
    ni_number: str
    email: str
    phone: str
    assignments: list[AssignmentPlan] = field(default_factory=list)
    accounts: list[tuple[str, str, str]] = field(default_factory=list)  # (service, username or "" for uid, state)
    login: str | None = None  # the demo actor this person signs in as


@dataclass
class Plan:
    organisations: list[OrgPlan]
    positions: list[PositionPlan]
    people: list[PersonPlan]

    def steps(self) -> int:
        job_roles, activities = read_catalogue()
        return (len(job_roles) + len(activities) + len(SERVICES) + len(self.organisations) + len(self.positions)
                + len(self.people) + sum(len(p.assignments) + len(p.accounts) for p in self.people)
                + sum(1 for p in self.people if p.login))


def read_catalogue() -> tuple[list[tuple[str, str]], list[tuple[str, str, list[str]]]]:
    """Job roles (code, name) and activities (code, name, includes) from the shipped CSV, plus the
    careaccess staff activities, in an order where every included activity comes first."""
    job_roles, activities = [], {}
    with CSV_PATH.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            includes = [c for c in (row.get("includes") or "").split(";") if c.strip()]
            if row["kind"] == "job_role":
                job_roles.append((row["code"].strip(), row["name"].strip()))
            elif row["kind"] == "activity":
                activities[row["code"].strip()] = (row["name"].strip(), [c.strip() for c in includes])
    for capability, code in settings.CAREACCESS_STAFF_ACTIVITIES.items():
        includes = [staff(c) for c in STAFF_ACTIVITY_INCLUDES.get(capability, ())]
        name = activities[code][0] if code in activities else STAFF_ACTIVITY_NAMES[capability]
        activities[code] = (name, includes)
    ordered, done = [], set()

    def visit(code, path=()):
        if code in done or code in path:
            return
        for included in activities.get(code, ("", []))[1]:
            visit(included, (*path, code))
        done.add(code)
        ordered.append((code, activities[code][0], activities[code][1]))

    for code in activities:
        visit(code)
    return job_roles, ordered


GIVEN_NAMES = [
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Grace", "Sophie", "Emily", "Hannah", "Chloe", "Priya", "Aisha",
    "Fatima", "Zainab", "Mei", "Niamh", "Siobhan", "Ewa", "Agnieszka", "Chiamaka", "Ngozi", "Rebecca", "Laura",
    "Sarah", "Rachel", "Joanne", "Karen", "Helen", "Claire", "Louise", "Bethan", "Rhian", "Oliver", "George",
    "Harry", "Jack", "Noah", "Leo", "Arthur", "Oscar", "Thomas", "James", "William", "Mohammed", "Yusuf",
    "Imran", "Arjun", "Rohan", "Vikram", "Kwame", "Tunde", "Chinedu", "Tomasz", "Piotr", "Liam", "Connor",
    "Callum", "Euan", "Gareth", "Rhys", "David", "Michael", "Paul", "Mark", "Andrew", "Stephen", "Daniel",
    "Samuel", "Joseph", "Ben", "Kofi", "Wei", "Raymond", "Janis", "Selma", "Steve",
]
FAMILY_NAMES = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright",
    "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke", "Patel",
    "Khan", "Ahmed", "Ali", "Hussain", "Shah", "Begum", "Singh", "Kaur", "Sharma", "Chowdhury", "Rahman",
    "Okafor", "Adeyemi", "Mensah", "Osei", "Adeniyi", "Momoh", "Nwosu", "Kowalski", "Nowak", "Wisniewski",
    "O'Brien", "Murphy", "Kelly", "Byrne", "MacDonald", "Campbell", "Stewart", "Morgan", "Hughes", "Lewis",
    "Edwards", "Price", "Griffiths", "Harris", "Martin", "Cooper", "King", "Baker", "Turner", "Hill", "Moore",
    "Ward", "Chapman", "Webb", "Howes", "Wong", "Chen", "Li", "Nguyen", "Costa", "Silva", "Fernandes",
]
# Titles that fit the given name ("Miss Thomas Mensah" did not); the draw is kept, so the rest of the
# plan (NI numbers, emails) is the same as before. Names used by anyone get a neutral title.
FEMININE_NAMES = frozenset(GIVEN_NAMES[:GIVEN_NAMES.index("Oliver")]) | {"Selma"}
MASCULINE_NAMES = frozenset(GIVEN_NAMES[GIVEN_NAMES.index("Oliver"):]) - {"Wei", "Janis", "Selma"}


def _title_for(given: str, drawn: str) -> str:
    if given in FEMININE_NAMES:
        return "Ms" if drawn == "Mr" else drawn
    if given in MASCULINE_NAMES:
        return "Mr" if drawn in ("Mrs", "Ms", "Miss") else drawn
    return "Mx" if drawn in ("Mr", "Mrs", "Ms", "Miss") else drawn


_NI_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
_NI_SECOND = "ABCEGHJKLMNPRSTWXYZ"


def _ni_number(rng: random.Random, taken: set[str]) -> str:
    while True:
        candidate = (rng.choice(_NI_FIRST) + rng.choice(_NI_SECOND) + f"{rng.randrange(10**6):06d}"
                     + rng.choice("ABCD"))
        try:
            candidate = rules.normalise_ni_number(candidate)
        except ValueError:
            continue
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def _slug(value: str) -> str:
    return "".join(ch for ch in value.lower() if ch.isalnum())


def _cqc(rng: random.Random) -> str:
    return rules.normalise_cqc_number(f"1-{rng.randrange(10**8, 10**10)}")


# (name, job roles, activities, service roles, how many (lo, hi), assignable by sponsors, temporary, unit)
def _gp_positions(large: bool):
    both = [staff("sponsor"), staff("authoriser")]  # GP practice sponsors are authorisers (rule CC1)
    cc_pro, cc_admin, mail = "connecting-care:care-professional", "connecting-care:administrator", "nhsmail:mailbox-user"
    rows = [
        ("Practice Manager", ["S8000:G8000:R8008"], ["B0825", *both], [cc_admin, mail], (1, 1), False, False),
        ("GP Partner", ["S8000:G8000:R8000"], ["B0825", "B0264", "B0360", "B0420", "B1611"], [cc_pro, mail], (2, 5), False, False),
        ("Salaried GP", ["S8000:G8000:R8000"], ["B0825", "B0264", "B0360", "B0420"], [cc_pro, mail], (1, 3), True, False),
        ("Practice Nurse", ["S8000:G8000:R8001"], ["B0825", "B0264", "B0360"], [cc_pro, mail], (1, 4), True, False),
        ("Healthcare Assistant", ["S8000:G8000:R8003"], ["B0825", "B0264"], [cc_admin, mail], (1, 2), True, False),
        ("Receptionist", ["S8000:G8000:R8008"], ["B0825"], [cc_admin, mail], (3, 7), True, False),
        ("Medical Secretary", ["S8000:G8000:R8008"], ["B0825", "B0360"], [cc_admin, mail], (1, 2), True, False),
        ("Medical Student", ["S8000:G8000:R8004"], ["B0820"], [], (0, 2), True, True),
        ("Locum GP", ["S8000:G8000:R8000"], ["B0825", "B0264", "B0360", "B0420"], [cc_pro, mail], (0, 0), True, True),
    ]
    if large:
        rows.insert(1, ("Deputy Practice Manager", ["S8000:G8000:R8008"], ["B0825", *both], [cc_admin, mail], (1, 1), False, False))
    return rows


def _pharmacy_positions(second: str):
    mail = "nhsmail:mailbox-user"
    rows = [
        ("Pharmacy Manager", ["S8000:G8000:R8003"], ["B0825", "B0264", staff("sponsor")], [mail], (1, 1), False, False),
        ("Pharmacist", ["S8000:G8000:R8003"], ["B0825", "B0264"], [mail], (0, 1), True, False),
        ("Locum Pharmacist", ["S8000:G8000:R8003"], ["B0825", "B0264"], [mail], (0, 0), True, True),
        ("Pharmacy Technician", ["S8000:G8000:R8003"], ["B0820", "B0264"], [mail], (1, 2), True, False),
        ("Dispensing Assistant", ["S8000:G8000:R8008"], ["B0820"], [], (1, 3), True, False),
    ]
    if second == "ra_agent":  # a pharmacist who is also the pharmacy's RA agent (rule DS4)
        rows.insert(1, ("Pharmacist and RA Agent", ["S8000:G8000:R8003", "R5090"], ["B0825", "B0264", staff("ra_agent")],
                        [mail], (1, 1), False, False))
    else:  # a second sponsor (rule DS4: two sponsors or RA agents, at least one sponsor)
        rows.insert(1, ("Pharmacist and Sponsor", ["S8000:G8000:R8003"], ["B0825", "B0264", staff("sponsor")],
                        [mail], (1, 1), False, False))
    return rows


def _care_home_positions(nursing: bool):
    mail = "nhsmail:mailbox-user"
    rows = [
        # At most 3 individual mailboxes per home (rule NM4): the manager, deputy and lead nurse.
        ("Registered Manager", ["S8000:G8000:R8008"], ["B0820", staff("sponsor")], [mail, "connecting-care:administrator"], (1, 1), False, False),
        ("Deputy Manager", ["S8000:G8000:R8008"], ["B0820"], [mail], (1, 1), True, False),
        ("Senior Care Assistant", [], [], [], (1, 3), True, False),
        ("Care Assistant", [], [], [], (2, 6), True, False),
    ]
    if nursing:
        rows.insert(2, ("Lead Nurse", ["S8000:G8000:R8001"], ["B0820", "B0264"], [mail, "connecting-care:care-professional"], (1, 1), True, False))
        rows.insert(3, ("Registered Nurse", ["S8000:G8000:R8001"], ["B0820", "B0264"], ["connecting-care:care-professional"], (1, 3), True, False))
    return rows


def _care_provider_positions():
    return [
        ("Lead Correspondent", [], [staff("lead_correspondent")], ["provider-portal:lead-correspondent"], (1, 1), False, False),
        ("Registered Manager", [], [], ["provider-portal:care-coordinator"], (1, 1), False, False),
        ("Care Coordinator", [], [], ["provider-portal:care-coordinator"], (1, 3), False, False),
        ("Finance Officer", [], [], ["provider-portal:finance"], (1, 1), False, False),
        ("Care Worker", [], [], [], (2, 6), False, False),
    ]


def _trust_positions():
    cc_pro, cc_admin, mail = "connecting-care:care-professional", "connecting-care:administrator", "nhsmail:mailbox-user"
    return [
        ("Consultant", ["S8000:G8000:R8000"], ["B0825", "B0264", "B0360", "B0420", "B1611"], [cc_pro, mail], (6, 10), False, False),
        ("Junior Doctor", ["S8000:G8000:R8000"], ["B0825", "B0264", "B0360", "B0420"], [cc_pro, mail], (6, 10), False, False),
        ("Staff Nurse", ["S8000:G8000:R8001"], ["B0825", "B0264", "B0360"], [cc_pro, mail], (10, 15), False, False),
        ("Ward Clerk", ["S8000:G8000:R8008"], ["B0825"], [cc_admin, mail], (4, 6), False, False),
        ("Medical Student", ["S8000:G8000:R8004"], ["B0820"], [], (3, 5), False, True),
        # Larger organisations name their authorisers (rule CC1).
        ("Clinical Systems Authoriser", ["S8000:G8000:R8008"], ["B0825", staff("authoriser")], [mail], (2, 2), False, False),
        ("Trust Sponsor", ["S8000:G8000:R8008"], ["B0825", staff("sponsor")], [mail], (2, 2), False, False),
        ("Service Desk Analyst", ["S8000:G8000:R8015"], [staff("service_desk")], [mail], (3, 3), False, False, "ITSD"),
        ("Clinical Systems Administrator", ["S8000:G8000:R8015"], [staff("local_administrator")], [mail], (1, 1), False, False, "ITSD"),
    ]


def _icb_positions():
    mail = "nhsmail:mailbox-user"
    return [
        ("Registration Authority Manager", ["R5080"], [staff("ra_manager"), staff("sponsor")], [mail], (1, 1), False, False, "RA"),
        ("Registration Authority Agent", ["R5090"], [staff("ra_agent")], [mail], (3, 3), False, False, "RA"),
        ("NHSmail Local Administrator", ["S8000:G8000:R8015"], [staff("local_administrator")],
         [mail, "nhsmail:local-administrator"], (2, 2), False, False, "DIGITAL"),
        ("Connecting Care Back Office Officer", ["S8000:G8000:R8015"], [staff("local_administrator")], [mail], (2, 2), False, False, "DIGITAL"),
        ("Information Governance Auditor", ["S8000:G8000:R8008"], [staff("auditor")], [mail], (1, 1), False, False),
        ("Commissioning Manager", [], [], [mail], (2, 3), False, False),
    ]


ICB = OrgPlan("QRV", "NHS Riverside Integrated Care Board", "icb", short_name="Riverside ICB", oversees_descendants=True,
              units=[("RA", "Registration Authority"), ("DIGITAL", "Digital Services")])
GP_PRACTICES = ["Riverside Medical Practice", "Oakwood Surgery", "Church Street Surgery", "Meadowbank Health Centre",
                "The Willows Medical Centre", "Park View Surgery", "Hillside Family Practice", "Beech Tree Surgery",
                "Millbrook Medical Group", "Station Road Surgery", "Castle Gate Health Centre", "Northfield Medical Practice"]
PHARMACIES = [("FA123", "Riverside Pharmacy"), ("FC418", "Oakwood Chemist"), ("FD092", "Greenway Pharmacy"),
              ("FG735", "High Street Pharmacy"), ("FH261", "Meadow Lane Pharmacy"), ("FK550", "Parkside Chemists")]
CARE_PROVIDERS = [("8HV42", "Brightside Home Care Ltd", "brightsidecare.co.uk"),
                  ("8JK17", "Evergreen Care Group", "evergreencare.co.uk"),
                  ("8LM03", "Kindred Support Services", "kindredsupport.org.uk"),
                  ("8NP66", "Lanterns Community Care", "lanternscare.co.uk")]
# (code, name, parent, nursing home)
CARE_HOMES = [("VR1A4", "Rosewood Care Home", "QRV", False), ("VR2C7", "Willow Lodge Nursing Home", "8JK17", True),
              ("VR3H2", "The Elms Residential Home", "QRV", False), ("VR4K9", "Maple House Care Home", "8JK17", False),
              ("VR5M3", "Heathfield Nursing Home", "QRV", True), ("VR6P8", "Brookside Lodge", "QRV", False)]
TRUST = OrgPlan("RVR", "Riverside Teaching Hospitals NHS Foundation Trust", "trust", parent="QRV",
                short_name="Riverside Hospitals", has_service_desk=True, units=[("ITSD", "IT Service Desk")])

CARD_HOLDER = "smartcard:card-holder"

# The back office's training to action requests (rule PP5): position -> the service it actions
# (None: every service). Without it no one may fulfil a request.
TRAINED_TO_ACTION = {
    ("QRV", "Registration Authority Manager"): None,
    ("QRV", "Registration Authority Agent"): None,
    ("QRV", "NHSmail Local Administrator"): "nhsmail",
    ("QRV", "Connecting Care Back Office Officer"): "connecting-care",
    ("RVR", "Clinical Systems Administrator"): "connecting-care",
}

# Which position's first holder signs in as which demo actor.
LOGIN_POSITIONS = {
    "sponsor": ("FA123", "Pharmacy Manager"),
    "authoriser": ("RVR", "Clinical Systems Authoriser"),
    "lead_correspondent": ("8HV42", "Lead Correspondent"),
    "ra_agent": ("QRV", "Registration Authority Agent"),
    "ra_manager": ("QRV", "Registration Authority Manager"),
    "service_desk": ("RVR", "Service Desk Analyst"),
    "local_administrator": ("QRV", "NHSmail Local Administrator"),
    "auditor": ("QRV", "Information Governance Auditor"),
    "user": ("B86001", "Practice Nurse"),
}


def build_plan(seed: int = SEED) -> Plan:
    """The whole demo as data: same seed, same plan, whatever the database holds."""
    rng = random.Random(seed)
    organisations: list[OrgPlan] = [ICB, TRUST]
    templates: dict[str, list] = {"QRV": _icb_positions(), "RVR": _trust_positions()}
    for i, name in enumerate(GP_PRACTICES, start=1):
        code = f"B86{i:03d}"
        organisations.append(OrgPlan(code, name, "gp_practice", parent="QRV"))
        templates[code] = _gp_positions(large=i % 4 == 1)
    for i, (code, name) in enumerate(PHARMACIES):
        organisations.append(OrgPlan(code, name, "pharmacy", parent="QRV"))
        templates[code] = _pharmacy_positions("ra_agent" if i % 2 == 0 else "sponsor")
    for code, name, domain in CARE_PROVIDERS:
        organisations.append(OrgPlan(code, name, "care_provider", parent="QRV", cqc_number=_cqc(rng), domain=domain))
        templates[code] = _care_provider_positions()
    for code, name, parent, nursing in CARE_HOMES:
        domain = next((d for c, _, d in CARE_PROVIDERS if c == parent), f"{_slug(name)}.co.uk")
        organisations.append(OrgPlan(code, name, "care_home", parent=parent, cqc_number=_cqc(rng), domain=domain))
        templates[code] = _care_home_positions(nursing)

    positions: list[PositionPlan] = []
    people: list[PersonPlan] = []
    ni_taken: set[str] = set()
    emails: Counter = Counter()
    usernames: dict[str, Counter] = {"nhsmail": Counter(), "connecting-care": Counter()}
    roles_of: dict[tuple[str, str], list[str]] = {}
    codes_of: dict[tuple[str, str], bool] = {}
    org_by_code = {o.code: o for o in organisations}

    def new_person(org: OrgPlan, clinician: bool, student: bool = False) -> PersonPlan:
        given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
        title = "Dr" if clinician else _title_for(given, rng.choice(["Mr", "Mrs", "Ms", "Miss", "Mx", ""]))
        born = dt.date(rng.randint(1999, 2004) if student else rng.randint(1958, 1999), rng.randint(1, 12), rng.randint(1, 28))
        local = f"{_slug(given)}.{_slug(family)}"
        emails[(local, org.domain)] += 1
        n = emails[(local, org.domain)]
        email = f"{local}{'' if n == 1 else n}@{org.domain}"
        return PersonPlan(title=title, given_name=given, family_name=family, date_of_birth=born,
                          ni_number=_ni_number(rng, ni_taken), email=email, phone=f"07700 900{rng.randrange(1000):03d}")

    def username(service: str, person: PersonPlan) -> str:
        base = (f"{_slug(person.given_name)}.{_slug(person.family_name)}" if service == "nhsmail"
                else f"{_slug(person.given_name)[0]}{_slug(person.family_name)}")
        usernames[service][base] += 1
        n = usernames[service][base]
        suffix = "" if n == 1 else str(n)
        return f"{base}{suffix}@nhs.net" if service == "nhsmail" else f"{base}{suffix}"

    holders: dict[tuple[str, str], list[PersonPlan]] = {}
    for org in organisations:
        for row in templates[org.code]:
            name, job_roles, activities, service_roles, (lo, hi), assignable, temporary = row[:7]
            if job_roles:  # a position with job-role codes is a smartcard position (SC8: the role is the position's)
                service_roles = [*service_roles, CARD_HOLDER]
            unit = row[7] if len(row) > 7 else None
            positions.append(PositionPlan(org.code, name, list(job_roles), list(activities), list(service_roles),
                                          assignable_by_sponsors=assignable, unit=unit))
            roles_of[(org.code, name)] = list(service_roles)
            codes_of[(org.code, name)] = bool(job_roles)
            for _ in range(rng.randint(lo, hi)):
                clinician = name in {"GP Partner", "Salaried GP", "Consultant", "Junior Doctor", "Locum GP"}
                person = new_person(org, clinician, student=name == "Medical Student")
                if temporary:  # temporary staff have an end date (rule CC9)
                    assignment = AssignmentPlan(org.code, name, rng.randint(10, 200), rng.randint(30, 240))
                else:
                    assignment = AssignmentPlan(org.code, name, rng.randint(30, 4000))
                person.assignments.append(assignment)
                people.append(person)
                holders.setdefault((org.code, name), []).append(person)

    # Locums hold their own card and a position at each site they work at (rule DS15).
    gp_codes = [o.code for o in organisations if o.kind == "gp_practice"]
    pharmacy_codes = [o.code for o in organisations if o.kind == "pharmacy"]
    for sites, position_name, count in ((gp_codes, "Locum GP", 6), (pharmacy_codes, "Locum Pharmacist", 3)):
        for _ in range(count):
            person = new_person(org_by_code[sites[0]], position_name == "Locum GP")
            for code in rng.sample(sites, rng.randint(2, 3)):
                person.assignments.append(AssignmentPlan(code, position_name, rng.randint(5, 90), rng.randint(14, 120)))
            people.append(person)

    # A few leavers: their assignment ended last month, their records stay (rule PP8).
    ordinary = [p for p in people if p.assignments[0].position in {"Receptionist", "Staff Nurse", "Care Worker", "Dispensing Assistant"}]
    for person in rng.sample(ordinary, 8):
        first = person.assignments[0]
        first.ends_in_days = -rng.randint(5, 40)
        first.starts_days_ago = max(first.starts_days_ago, 60)

    # Accounts follow the service roles of the person's positions; card holders get a smartcard.
    for person in people:
        services_held, card = [], False
        for a in person.assignments:
            for key in roles_of[(a.organisation, a.position)]:
                service = key.split(":", 1)[0]
                if service not in services_held:
                    services_held.append(service)
            card = card or codes_of[(a.organisation, a.position)]
        if card and "smartcard" not in services_held:
            services_held.append("smartcard")
        left = any(a.ends_in_days is not None and a.ends_in_days < 0 for a in person.assignments)
        for service in services_held:
            if service == "smartcard":
                name = ""  # the card carries the user id (rule DS16)
            elif service == "provider-portal":
                name = person.email  # a named individual's address (rule PP2)
            else:
                name = username(service, person)
            roll = rng.random()
            state = "suspended" if left or roll < 0.04 else "pending" if roll < 0.09 else "active"
            person.accounts.append((service, name, state))

    for actor, key in LOGIN_POSITIONS.items():
        holders[key][0].login = actor
    return Plan(organisations, positions, people)


# --- the loader ---

@dataclass
class LoadResult:
    created: Counter
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.created.values())


def load(*, progress: bool = False, plan: Plan | None = None) -> LoadResult:
    """Create whatever of the demo is missing, in one transaction; return what was created."""
    plan = plan or build_plan()
    started = time.perf_counter()
    created: Counter = Counter()
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("{task.description:<26}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    else:
        bar = None
    with transaction.atomic():
        if bar is not None:
            with bar:
                task = bar.add_task("demo", total=plan.steps())

                def advance(description: str) -> None:
                    bar.update(task, advance=1, description=description)

                _load(plan, created, advance)
        else:
            _load(plan, created, lambda description: None)
    return LoadResult(created, time.perf_counter() - started)


def _load(plan: Plan, created: Counter, advance: Callable[[str], None]) -> None:
    actor = Actor.system(ACTOR_LABEL)
    today = clock.today()

    job_roles, activities = read_catalogue()
    for code, name in job_roles:
        if not JobRole.objects.filter(code=code, name=name).exists():
            services.upsert_job_role(actor, code=code, name=name)
            created["job roles"] += 1
        advance("catalogue")
    existing_activities = {a.code: a for a in Activity.objects.prefetch_related("includes")}
    for code, name, includes in activities:
        current = existing_activities.get(code)
        if current is None or current.name != name or sorted(a.code for a in current.includes.all()) != sorted(includes):
            services.upsert_activity(actor, code=code, name=name, includes=includes)
            created["activities"] += 1
        advance("catalogue")

    existing_services = set(Service.objects.values_list("code", flat=True))
    for spec in SERVICES:
        if spec["code"] not in existing_services:
            services.create_service(actor, **spec)
            created["services"] += 1
        advance("services")

    orgs = {o.code: o for o in Organisation.objects.all()}
    units = {(u.organisation_id, u.code): u for u in OrganisationalUnit.objects.all()}
    for spec in plan.organisations:
        org = orgs.get(spec.code)
        if org is None:
            org = services.create_organisation(
                actor, code=spec.code, name=spec.name, kind=spec.kind, parent=spec.parent, short_name=spec.short_name,
                oversees_descendants=spec.oversees_descendants, cqc_number=spec.cqc_number,
                has_service_desk=spec.has_service_desk)
            orgs[spec.code] = org
            created["organisations"] += 1
        for unit_code, unit_name in spec.units:
            if (org.id, unit_code) not in units:
                units[(org.id, unit_code)] = services.create_unit(actor, org, code=unit_code, name=unit_name)
                created["units"] += 1
        advance("organisations")

    positions = {(p.organisation.code, p.name): p for p in Position.objects.select_related("organisation")}
    for spec in plan.positions:
        key = (spec.organisation, spec.name)
        if key not in positions:
            positions[key] = services.create_position(
                actor, orgs[spec.organisation], unit=spec.unit, name=spec.name, job_roles=spec.job_roles,
                activities=spec.activities, service_roles=spec.service_roles,
                assignable_by_sponsors=spec.assignable_by_sponsors)
            created["positions"] += 1
        else:  # a demo loaded before a position gained a service role: add it (SC8: it reaches everyone in it)
            have = {f"{r.service.code}:{r.code}" for r in positions[key].service_roles.select_related("service")}
            if not set(spec.service_roles) <= have:
                positions[key] = services.update_position(actor, positions[key],
                                                          service_roles=sorted(have | set(spec.service_roles)))
                created["position service roles"] += 1
        advance("positions")

    people = {p.ni_number: p for p in Person.objects.filter(ni_number__in=[s.ni_number for s in plan.people])}
    held = set(Assignment.objects.filter(person__in=people.values()).values_list("person_id", "position_id"))
    accounts = {(a.person_id, a.service_id) for a in Account.objects.filter(person__in=people.values())}
    service_by_code = {s.code: s for s in Service.objects.all()}
    for spec in plan.people:
        person = people.get(spec.ni_number)
        if person is None:
            person = services.create_person(
                actor, title=spec.title, given_name=spec.given_name, family_name=spec.family_name,
                date_of_birth=spec.date_of_birth, ni_number=spec.ni_number, email=spec.email, phone=spec.phone)
            people[spec.ni_number] = person
            created["people"] += 1
        advance("people")
        for a in spec.assignments:
            position = positions[(a.organisation, a.position)]
            if (person.id, position.id) not in held:
                starts_on = today - dt.timedelta(days=a.starts_days_ago)
                ends_on = None if a.ends_in_days is None else today + dt.timedelta(days=a.ends_in_days)
                services.create_assignment(actor, person, position, starts_on=starts_on, ends_on=ends_on)
                held.add((person.id, position.id))
                created["assignments"] += 1
            advance("assignments")
        for service_code, username, state in spec.accounts:
            service = service_by_code[service_code]
            if (person.id, service.id) not in accounts:
                _demo_account(actor, person, service, username or person.uid, state)
                accounts.add((person.id, service.id))
                created["accounts"] += 1
            advance("accounts")
        if spec.login:
            if person.user_id is None:
                services.create_signin(actor, person, password=demo_password(spec.login))
                created["sign-ins"] += 1
            advance("sign-ins")
    _train_back_office(actor, created)


def _train_back_office(actor: Actor, created: Counter) -> None:
    """Rule PP5: the back office's training to action requests, once per holder and service."""
    from careaccess.identity import services as identity_services
    from careaccess.identity.models import TrainingRecord

    completed_on = clock.today() - dt.timedelta(days=30)
    service_by_code = {s.code: s for s in Service.objects.all()}
    for (org_code, position_name), service_code in TRAINED_TO_ACTION.items():
        holders = Person.objects.filter(assignments__position__organisation__code=org_code,
                                        assignments__position__name=position_name).distinct().order_by("id")
        for person in holders:
            if not TrainingRecord.objects.filter(person=person, kind=TrainingRecord.Kind.ACTIONING,
                                                 service__code=service_code).exists():
                identity_services.record_training(actor, person, kind=TrainingRecord.Kind.ACTIONING,
                                                  completed_on=completed_on, service=service_by_code.get(service_code))
                created["training records"] += 1


def _demo_account(actor: Actor, person: Person, service: Service, username: str, state: str) -> Account:
    base, n = username, 1
    while Account.objects.filter(service=service, username=username).exists():  # taken by someone outside the demo
        n += 1
        local, at, domain = base.partition("@")
        username = f"{local}{n}{at}{domain}"
    if state == "suspended":
        account = services.create_account(actor, person, service, username=username, state="active")
        return services.update_account(actor, account, state="suspended",
                                       reason=f"not used for {service.inactivity_days} days (rule PP7)")
    return services.create_account(actor, person, service, username=username, state=state)


# --- reading the demo back ---

@dataclass
class Login:
    actor: str
    person: Person
    password: str
    position: str


def logins(plan: Plan | None = None) -> list[Login]:
    """The demo sign-ins, in the order of ACTORS, with the position each acts in."""
    plan = plan or build_plan()
    by_ni = {p.ni_number: p for p in plan.people if p.login}
    people = {p.ni_number: p for p in Person.objects.filter(ni_number__in=by_ni).select_related("user")}
    result = []
    for actor in ACTORS:
        spec = next(p for p in by_ni.values() if p.login == actor)
        person = people.get(spec.ni_number)
        if person is None or person.user_id is None:
            continue
        org_code, position_name = LOGIN_POSITIONS[actor]
        assignment = (Assignment.objects.filter(person=person, position__organisation__code=org_code,
                                                position__name=position_name)
                      .select_related("position__organisation").first())
        label = f"{assignment.position.name}, {assignment.position.organisation.name} ({org_code})" if assignment else ""
        result.append(Login(actor, person, demo_password(actor), label))
    return result

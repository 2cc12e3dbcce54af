"""Users (people) and Groups (positions) as SCIM resources: rendering, filtering, sorting, and
writes that go through the directory's service functions (which check the actor's rights and the
rules, and audit). Nothing here writes a directory model itself.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from careaccess.core import clock, permissions, sql
from careaccess.core.context import Actor
from careaccess.directory import rules, services
from careaccess.directory.models import Account, Assignment, Organisation, Person, Position
from careaccess.directory.live_sql import LIVE_CONDITION, LIVE_JOINS, live_params
from careaccess.directory.selectors import live_assignment_filter

from .. import services as interop_services
from ..models import ScimUser
from . import schema
from .errors import ScimError
from .filter import Attr
from .patch import Patcher


def _iso(instant) -> str:
    return instant.astimezone(clock.now().tzinfo).isoformat().replace("+00:00", "Z")


def etag_of(doc: dict) -> str:
    body = {k: v for k, v in doc.items() if k != "meta"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:24]
    return f'W/"{digest}"'


def _finish(doc: dict, meta: dict) -> dict:
    doc["meta"] = meta
    meta["version"] = etag_of(doc)
    return doc


def _live_prefetch(queryset) -> Prefetch:
    return Prefetch("assignments", queryset=queryset.filter(live_assignment_filter(clock.today())).order_by("starts_on", "id"),
                    to_attr="live")


# A row per live assignment and job role of the people asked for (directory.live_sql's live
# condition; tests/test_scim_reads.py compares it with live_assignment_filter). `{people}` is one
# placeholder per person; each count is its own prepared statement (on PostgreSQL, planned once per
# connection).
_LIVE_POSITIONS = f"""
    SELECT a.person_id, pos.id, pos.name, o.code, pos.unit_id, u.name, jr.code, jr.name
    {LIVE_JOINS}
    LEFT JOIN directory_organisationalunit u ON u.id = pos.unit_id
    LEFT JOIN directory_position_job_roles pj ON pj.position_id = pos.id
    LEFT JOIN directory_jobrole jr ON jr.id = pj.jobrole_id
    WHERE a.person_id IN ({{people}}) AND {LIVE_CONDITION}
    ORDER BY a.starts_on, a.id, jr.code
"""


def _live_positions(person_ids: list[int]) -> dict[int, list[tuple]]:
    """Each person's live positions, set-based: (position id, name, organisation code, unit id,
    unit name, job role code, job role name) per job role (None, None for a position without),
    in the order of the assignments (start date, id), then of the role codes."""
    if not person_ids:
        return {}
    query = _LIVE_POSITIONS.format(people=", ".join(["%s"] * len(person_ids)))
    live: dict[int, list[tuple]] = {}
    for person_id, *position in sql.fetchall(query, [*person_ids, *live_params(clock.today())]):
        live.setdefault(person_id, []).append(tuple(position))
    return live


def _string(value, name: str, *, required: bool = False, max_length: int = 200) -> str:
    if value is None or value == "":
        if required:
            raise ScimError(400, "invalidValue", f"{name} is required")
        return ""
    if not isinstance(value, str):
        raise ScimError(400, "invalidValue", f"{name} must be a string")
    if len(value) > max_length:
        raise ScimError(400, "invalidValue", f"{name} must be {max_length} characters or fewer")
    return value.strip()


def _boolean(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):  # some clients send "False"
        return value.lower() == "true"
    raise ScimError(400, "invalidValue", f"{name} must be true or false")


def _check_body(doc, core: str, allowed: set[str]) -> dict:
    if not isinstance(doc, dict):
        raise ScimError(400, "invalidSyntax", "the body must be a JSON object")
    schemas = doc.get("schemas")
    if not isinstance(schemas, list) or core not in schemas:
        raise ScimError(400, "invalidSyntax", f"schemas must list {core}")
    unknown = sorted(k for k in doc if k.lower() not in allowed and k not in schemas)
    if unknown:
        raise ScimError(400, "invalidValue", f"unknown attributes: {', '.join(unknown)}")
    return doc


def _lowered(doc: dict) -> dict:
    return {str(k).lower(): v for k, v in doc.items()}


class UserResource:
    name = "User"
    model = Person
    endpoint = "Users"
    core = schema.USER
    extensions = {schema.ENTERPRISE: schema.ENTERPRISE_ATTRIBUTES}
    read_action = "person.read"
    patcher = Patcher(schema.USER, schema.USER_ATTRIBUTES, {schema.ENTERPRISE: schema.ENTERPRISE_ATTRIBUTES})
    allowed = {a["name"].lower() for a in schema.USER_ATTRIBUTES} | {"id", "externalid", "meta", "schemas", schema.ENTERPRISE.lower()}

    # --- reading ---

    # The columns a User is rendered from (with the SCIM link's userName and externalId, `rows`):
    # rows, not models (a page is read with `values()`).
    COLUMNS = ("id", "uid", "given_name", "family_name", "email", "phone", "status", "created_at", "updated_at")
    _SCIM = ScimUser.objects.filter(person=OuterRef("pk"))

    @staticmethod
    def queryset() -> QuerySet[Person]:
        # A person who has left is kept for audit (PP8) but is gone as far as SCIM is concerned.
        return Person.objects.exclude(status=Person.Status.LEFT)

    @staticmethod
    def match(resource_id: str) -> Q:
        if not rules.is_user_id(resource_id):
            raise ScimError(404, None, f"no User has the id {resource_id}")
        return Q(uid=resource_id)

    @classmethod
    def get(cls, resource_id: str, *, lock: bool = False) -> Person:
        """The person to change (writes); reads render rows from `fetch`."""
        queryset = cls.queryset().filter(cls.match(resource_id))
        person = (queryset.select_for_update() if lock else queryset).first()
        if person is None:
            raise ScimError(404, None, f"no User has the id {resource_id}")
        return person

    @classmethod
    def rows(cls, queryset) -> QuerySet:
        """The page's rows. The SCIM userName and externalId are subqueries, not a join: the
        database reads them for the rows of the page only, after the ORDER BY and LIMIT, where a
        join is planned for every match (a hash join reading every SCIM link, for a filter that
        matches a thousand people). A query that joins the SCIM link already (`userName eq`, a sort
        by userName) reads them from that join."""
        if ScimUser._meta.db_table in queryset.query.alias_map:
            return queryset.values(*cls.COLUMNS, scim_user_name=F("scim__user_name"),
                                   scim_external_id=F("scim__external_id"))
        return queryset.values(*cls.COLUMNS, scim_user_name=Subquery(cls._SCIM.values("user_name")),
                               scim_external_id=Subquery(cls._SCIM.values("external_id")))

    @classmethod
    def fetch(cls, queryset) -> list[dict]:
        return list(cls.rows(queryset))

    @classmethod
    def documents(cls, rows: list[dict], base: str) -> list[tuple[dict, list[str]]]:
        """(document, user ids shown) for each row; the live positions of all of them in one query."""
        live = _live_positions([row["id"] for row in rows])
        return [(cls.render(row, live.get(row["id"], ()), base), [row["uid"]]) for row in rows]

    @staticmethod
    def render(row: dict, live, base: str) -> dict:
        """`live`: the person's rows from `_live_positions`, in the order of their assignments."""
        uid = row["uid"]
        doc = {"schemas": [schema.USER, schema.ENTERPRISE], "id": uid}
        if row["scim_external_id"]:
            doc["externalId"] = row["scim_external_id"]
        doc["userName"] = uid if row["scim_user_name"] is None else row["scim_user_name"]
        doc["name"] = {"givenName": row["given_name"], "familyName": row["family_name"]}
        doc["displayName"] = f"{row['given_name']} {row['family_name']}"
        doc["active"] = row["status"] == Person.Status.ACTIVE
        if row["email"]:
            doc["emails"] = [{"value": row["email"]}]
        if row["phone"]:
            doc["phoneNumbers"] = [{"value": row["phone"]}]
        groups, roles, positions, codes = [], [], set(), set()
        for position_id, name, organisation_code, _, _, role_code, role_name in live:
            if position_id not in positions:
                positions.add(position_id)
                groups.append({"value": str(position_id), "$ref": f"{base}/Groups/{position_id}",
                               "display": f"{name} ({organisation_code})"})
            if role_code is not None and role_code not in codes:
                codes.add(role_code)
                roles.append({"value": role_code, "display": role_name})
        if groups:
            doc["groups"] = groups
        if roles:
            doc["roles"] = roles
        enterprise = {"employeeNumber": uid}
        if live:
            _, _, organisation_code, unit_id, unit_name, _, _ = live[0]
            enterprise["organization"] = organisation_code
            if unit_id is not None:
                enterprise["department"] = unit_name
        doc[schema.ENTERPRISE] = enterprise
        return _finish(doc, {"resourceType": "User", "created": _iso(row["created_at"]),
                             "lastModified": _iso(row["updated_at"]), "location": f"{base}/Users/{uid}"})

    _USER_NAME_LOOKUPS = {"eq": "", "ne": "", "co": "__contains", "sw": "__startswith", "ew": "__endswith",
                          "gt": "__gt", "ge": "__gte", "lt": "__lt", "le": "__lte"}

    @staticmethod
    def _user_name_q(op, value) -> Q:
        if op == "pr":
            return Q()
        if not isinstance(value, str):
            raise ScimError(400, "invalidFilter", "userName is a string: compare it with a \"string\"")
        if op == "eq":
            # The hot path (a client looking a user up). The key is unique: a scalar subquery, so the
            # database ORs two index lookups on the person (a bitmap OR); it plans in about half the
            # time of the union below. COALESCE: no such key must compare false, not NULL, or
            # `not (userName eq ...)` would match nobody.
            linked = ScimUser.objects.filter(user_name_key=value.lower()).values("person_id")
            return Q(pk=Coalesce(Subquery(linked), 0)) | Q(uid=value, scim__isnull=True)
        q = UserResource._user_names_q([("eq" if op == "ne" else op, value)])
        return ~q if op == "ne" else q

    @staticmethod
    def _user_names_q(conditions: list[tuple[str, Any]]) -> Q:
        """The people whose userName meets every (operator, value): those whose SCIM userName key
        does, and those without one whose uid does, each an index scan (eq, sw and the ranges a
        B-tree range, co and ew a trigram index) on its own table, not an OR across a join that no
        index serves. Several conditions (`userName ge "a" and userName lt "b"`) narrow each side."""
        linked = ScimUser.objects.all()
        unlinked = Person.objects.filter(~Exists(ScimUser.objects.filter(person=OuterRef("pk"))))
        for op, value in conditions:
            if not isinstance(value, str):
                raise ScimError(400, "invalidFilter", "userName is a string: compare it with a \"string\"")
            lookup = UserResource._USER_NAME_LOOKUPS[op]
            linked = linked.filter(**{f"user_name_key{lookup}": value.lower()})
            unlinked = unlinked.filter(**{f"uid{lookup}": value})
        return Q(pk__in=linked.values("person_id").union(unlinked.order_by().values("id"), all=True))

    @staticmethod
    def _active_q(op, value) -> Q:
        if op not in ("eq", "ne") or not isinstance(value, bool):
            raise ScimError(400, "invalidFilter", "active is a boolean: compare it with eq or ne and true or false")
        q = Q(status=Person.Status.ACTIVE)
        return q if (op == "eq") == value else ~q

    @staticmethod
    def _groups_q(op, value) -> Q:
        if op != "eq" or not isinstance(value, str):
            raise ScimError(400, "invalidFilter", "groups.value can be compared with eq only")
        if not value.isdigit():
            return Q(pk__in=[])
        return Q(Exists(Assignment.objects.filter(live_assignment_filter(clock.today()), person=OuterRef("pk"),
                                                  position_id=int(value))))

    filters = {
        "id": Attr("uid", case_exact=True),
        "username": Attr(build=_user_name_q.__func__, build_all=_user_names_q.__func__),
        "externalid": Attr("scim__external_id", case_exact=True),
        "name.givenname": Attr("given_name"),
        "name.familyname": Attr("family_name"),
        "emails.value": Attr("email"),
        "active": Attr(build=_active_q.__func__),
        "groups.value": Attr(build=_groups_q.__func__),
        "meta.created": Attr("created_at", kind="datetime"),
        "meta.lastmodified": Attr("updated_at", kind="datetime"),
        f"{schema.ENTERPRISE.lower()}:employeenumber": Attr("uid", case_exact=True),
    }
    sorts = {
        "id": ("uid",),
        "username": ("sort_user_name",),
        "name.givenname": ("given_name", "uid"),
        "name.familyname": ("family_name", "given_name", "uid"),
        "displayname": ("given_name", "family_name", "uid"),
        "emails": ("email", "uid"),
        "emails.value": ("email", "uid"),
        "meta.created": ("created_at", "uid"),
        "meta.lastmodified": ("updated_at", "uid"),
    }
    default_order = ("id",)

    @staticmethod
    def annotate_sort(queryset, key):
        if key == "username":
            return queryset.annotate(sort_user_name=Coalesce("scim__user_name_key", "uid"))
        return queryset

    # --- writing (always inside the caller's transaction) ---

    @classmethod
    def _values(cls, doc: dict) -> dict:
        body = _lowered(doc)
        name = body.get("name")
        if not isinstance(name, dict):
            raise ScimError(400, "invalidValue", "name is required, with givenName and familyName")
        name = _lowered(name)
        emails = body.get("emails") or []
        if isinstance(emails, dict):
            emails = [emails]
        if not isinstance(emails, list) or not all(isinstance(e, dict) for e in emails):
            raise ScimError(400, "invalidValue", "emails must be a list of objects with a value")
        emails = [_lowered(e) for e in emails]
        if len(emails) > 1:
            emails = [e for e in emails if e.get("primary") is True] or emails[:1]
        user_name = _string(body.get("username"), "userName", required=True, max_length=150)
        return {
            "user_name": user_name,
            "external_id": _string(body.get("externalid"), "externalId"),
            "given_name": _string(name.get("givenname"), "name.givenName", required=True, max_length=100),
            "family_name": _string(name.get("familyname"), "name.familyName", required=True, max_length=100),
            "email": _string(emails[0].get("value"), "emails.value", max_length=254) if emails else "",
            # absent: a new User is active; a replaced one keeps its status (a PUT that leaves `active`
            # out must not reinstate a suspended person)
            "active": _boolean(body["active"], "active") if body.get("active") is not None else None,
        }

    @staticmethod
    def _check_user_name(user_name: str, person: Person | None):
        key = user_name.lower()
        clash = ScimUser.objects.filter(user_name_key=key)
        if person is not None:
            clash = clash.exclude(person=person)
        if clash.exists():
            raise ScimError(409, "uniqueness", f"the userName {user_name} is taken")
        if rules.is_user_id(user_name) and (person is None or user_name != person.uid):
            # Such a userName could be mistaken for (or later collide with) another person's user id.
            raise ScimError(400, "invalidValue", "a userName that looks like a 12-digit user id must be the person's own user id")

    @classmethod
    def create(cls, actor: Actor, doc: dict, base: str) -> Person:
        values = cls._values(_check_body(doc, cls.core, cls.allowed))
        cls._check_user_name(values["user_name"], None)
        person = services.create_person(actor, given_name=values["given_name"], family_name=values["family_name"],
                                        email=values["email"])
        if values["active"] is False:
            services.update_person(actor, person, status=Person.Status.SUSPENDED)
        interop_services.link_user(actor, person, user_name=values["user_name"], external_id=values["external_id"])
        return person

    @classmethod
    def replace(cls, actor: Actor, person: Person, doc: dict, base: str) -> Person:
        values = cls._values(_check_body(doc, cls.core, cls.allowed))
        if "id" in doc and doc["id"] != person.uid:
            raise ScimError(400, "mutability", "id cannot be changed")
        cls._check_user_name(values["user_name"], person)
        changes = {"given_name": values["given_name"], "family_name": values["family_name"], "email": values["email"]}
        if values["active"] is not None:
            changes["status"] = Person.Status.ACTIVE if values["active"] else Person.Status.SUSPENDED
        changed = {k: v for k, v in changes.items() if getattr(person, k) != v}
        if changed:
            services.update_person(actor, person, **changed)
        interop_services.link_user(actor, person, user_name=values["user_name"], external_id=values["external_id"])
        return person

    @classmethod
    def delete(cls, actor: Actor, person: Person) -> None:
        """A leaver: the person is marked left, their assignments end and their accounts are
        suspended. Nothing is deleted (rule PP8); SCIM answers 404 for them from now on."""
        reason = "SCIM DELETE: the person has left"
        for assignment in Assignment.objects.filter(person=person, state__in=[Assignment.State.ACTIVE, Assignment.State.SUSPENDED]):
            services.update_assignment(actor, assignment, state=Assignment.State.ENDED, reason=reason)
        for account in Account.objects.filter(person=person, state__in=[Account.State.ACTIVE, Account.State.PENDING]):
            services.update_account(actor, account, state=Account.State.SUSPENDED, reason=reason)
        services.update_person(actor, person, status=Person.Status.LEFT)


class GroupResource:
    name = "Group"
    model = Position
    endpoint = "Groups"
    core = schema.GROUP
    extensions = {schema.POSITION: schema.POSITION_ATTRIBUTES}
    read_action = "position.read"
    patcher = Patcher(schema.GROUP, schema.GROUP_ATTRIBUTES, {schema.POSITION: schema.POSITION_ATTRIBUTES})
    allowed = {a["name"].lower() for a in schema.GROUP_ATTRIBUTES} | {"id", "externalid", "meta", "schemas", schema.POSITION.lower()}

    @staticmethod
    def queryset() -> QuerySet[Position]:
        return (
            Position.objects.filter(status=Position.Status.ACTIVE)
            .select_related("organisation", "unit", "scim")
            .prefetch_related("job_roles", "activities", _live_prefetch(Assignment.objects.select_related("person")))
        )

    @staticmethod
    def match(resource_id: str) -> Q:
        if not str(resource_id).isdigit() or len(str(resource_id)) > 18:
            raise ScimError(404, None, f"no Group has the id {resource_id}")
        return Q(pk=int(resource_id))

    @classmethod
    def get(cls, resource_id: str, *, lock: bool = False) -> Position:
        if lock:
            Position.objects.select_for_update().filter(cls.match(resource_id)).first()
        position = cls.queryset().filter(cls.match(resource_id)).first()
        if position is None:
            raise ScimError(404, None, f"no Group has the id {resource_id}")
        return position

    @staticmethod
    def fetch(queryset) -> list[Position]:
        return list(queryset)

    @classmethod
    def documents(cls, positions: list[Position], base: str) -> list[tuple[dict, list[str]]]:
        return [(cls.render(position, base), cls.uids(position)) for position in positions]

    @staticmethod
    def members(position: Position) -> list[Person]:
        seen, people = set(), []
        for assignment in position.live:
            if assignment.person_id not in seen:
                seen.add(assignment.person_id)
                people.append(assignment.person)
        return people

    @staticmethod
    def render(position: Position, base: str) -> dict:
        scim = getattr(position, "scim", None) if hasattr(position, "scim") else None
        doc = {"schemas": [schema.GROUP, schema.POSITION], "id": str(position.id)}
        if scim and scim.external_id:
            doc["externalId"] = scim.external_id
        doc["displayName"] = position.name
        members = [{"value": p.uid, "$ref": f"{base}/Users/{p.uid}", "type": "User"} for p in GroupResource.members(position)]
        if members:
            doc["members"] = members
        ext = {"organisationCode": position.organisation.code, "organisationName": position.organisation.name}
        if position.unit_id:
            ext["unit"] = position.unit.code
        roles = sorted(r.code for r in position.job_roles.all())
        activities = sorted(a.code for a in position.activities.all())
        if roles:
            ext["roleCodes"] = roles
        if activities:
            ext["activityCodes"] = activities
        doc[schema.POSITION] = ext
        return _finish(doc, {"resourceType": "Group", "created": _iso(position.created_at),
                             "lastModified": _iso(position.updated_at), "location": f"{base}/Groups/{position.id}"})

    @staticmethod
    def uids(position: Position) -> list[str]:
        return [p.uid for p in GroupResource.members(position)]

    @staticmethod
    def _id_q(op, value) -> Q:
        if op == "pr":
            return Q()
        if op not in ("eq", "ne") or not isinstance(value, str):
            raise ScimError(400, "invalidFilter", "id can be compared with eq or ne and a \"string\" only")
        q = Q(pk=int(value)) if value.isdigit() and len(value) <= 18 else Q(pk__in=[])
        return q if op == "eq" else ~q

    @staticmethod
    def _members_q(op, value) -> Q:
        if op == "pr":
            return Q(Exists(Assignment.objects.filter(live_assignment_filter(clock.today()), position=OuterRef("pk"))))
        if op != "eq" or not isinstance(value, str):
            raise ScimError(400, "invalidFilter", "members.value can be compared with eq only")
        return Q(Exists(Assignment.objects.filter(live_assignment_filter(clock.today()), position=OuterRef("pk"),
                                                  person__uid=value)))

    filters = {
        "id": Attr(build=_id_q.__func__),
        "displayname": Attr("name"),
        "externalid": Attr("scim__external_id", case_exact=True),
        "members.value": Attr(build=_members_q.__func__),
        "meta.created": Attr("created_at", kind="datetime"),
        "meta.lastmodified": Attr("updated_at", kind="datetime"),
        f"{schema.POSITION.lower()}:organisationcode": Attr("organisation__code", case_exact=True, to_db=str.upper),
    }
    sorts = {
        "id": ("id",),
        "displayname": ("name", "id"),
        "meta.created": ("created_at", "id"),
        "meta.lastmodified": ("updated_at", "id"),
        f"{schema.POSITION.lower()}:organisationcode": ("organisation__code", "name", "id"),
    }
    default_order = ("id",)

    @staticmethod
    def annotate_sort(queryset, key):
        return queryset

    @classmethod
    def _values(cls, doc: dict) -> dict:
        body = _lowered(doc)
        members = body.get("members") or []
        if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
            raise ScimError(400, "invalidValue", "members must be a list of objects with a value")
        uids = []
        for member in map(_lowered, members):
            if member.get("type") not in (None, "User"):
                raise ScimError(400, "invalidValue", "members are Users: positions do not nest")
            value = member.get("value")
            if not isinstance(value, str) or not value:
                raise ScimError(400, "invalidValue", "each member needs a value: the User's id")
            if value not in uids:
                uids.append(value)
        return {"name": _string(body.get("displayname"), "displayName", required=True),
                "external_id": _string(body.get("externalid"), "externalId"), "members": uids}

    @staticmethod
    def _people(uids: list[str]) -> list[Person]:
        found = {p.uid: p for p in Person.objects.filter(uid__in=uids).exclude(status=Person.Status.LEFT)}
        missing = [u for u in uids if u not in found]
        if missing:
            raise ScimError(400, "invalidValue", f"no User has the id {', '.join(missing)}")
        return [found[u] for u in uids]

    @classmethod
    def create(cls, actor: Actor, doc: dict, base: str) -> Position:
        doc = _check_body(doc, cls.core, cls.allowed)
        values = cls._values(doc)
        ext = doc.get(schema.POSITION) or {}
        code = ext.get("organisationCode") if isinstance(ext, dict) else None
        if code:
            organisation = Organisation.objects.filter(code=str(code).strip().upper()).first()
            if organisation is None:
                raise ScimError(400, "invalidValue", f"no organisation has the code {code}")
        else:
            # The acting position's organisation: the position that allows the actor to create
            # positions (Forbidden when none does, as create_position would answer).
            acting = permissions.authorise(actor, "position.create")
            organisation = (Organisation.objects.filter(positions__assignments=acting.assignment_id).first()
                            if acting.assignment_id is not None else None)
            if organisation is None:
                raise ScimError(400, "invalidValue", f"give {schema.POSITION}:organisationCode: the organisation of the position")
        people = cls._people(values["members"])
        position = services.create_position(actor, organisation, name=values["name"])
        for person in people:
            services.create_assignment(actor, person, position)
        interop_services.link_group(actor, position, external_id=values["external_id"])
        return position

    @classmethod
    def replace(cls, actor: Actor, position: Position, doc: dict, base: str) -> Position:
        values = cls._values(_check_body(doc, cls.core, cls.allowed))
        if "id" in doc and str(doc["id"]) != str(position.id):
            raise ScimError(400, "mutability", "id cannot be changed")
        people = cls._people(values["members"])
        if values["name"] != position.name:
            services.update_position(actor, position, name=values["name"])
        wanted = {p.uid for p in people}
        for assignment in position.live:
            if assignment.person.uid not in wanted:
                services.update_assignment(actor, assignment, state=Assignment.State.ENDED,
                                           reason="SCIM: removed from the group's members")
        current = {a.person.uid for a in position.live}
        for person in people:
            if person.uid not in current:
                services.create_assignment(actor, person, position)
        interop_services.link_group(actor, position, external_id=values["external_id"])
        return position

    @classmethod
    def delete(cls, actor: Actor, position: Position) -> None:
        """Positions are kept for audit: their live assignments end and the position is retired."""
        for assignment in Assignment.objects.filter(position=position, state__in=[Assignment.State.ACTIVE, Assignment.State.SUSPENDED]):
            services.update_assignment(actor, assignment, state=Assignment.State.ENDED, reason="SCIM DELETE of the group")
        services.update_position(actor, position, status=Position.Status.RETIRED)


RESOURCES = {"Users": UserResource, "Groups": GroupResource}

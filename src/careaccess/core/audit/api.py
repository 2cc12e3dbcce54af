"""Reading the audit ledger through the API (rule PP15): `GET /audit/entries` searches the entries the
caller may read (auditor or RA manager activity; their positions' organisations), newest first;
`GET /audit/entries/{index}` reads one. Every search and every read is itself an audit entry.
`GET /audit/keys` is the ledger's published key list (rule PP9), for anyone checking checkpoints.

Thin by design: the scope, the filters and the recording are `search`'s.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import quote, urlencode

from ninja import Field, Query, Router, Schema

from careaccess.api.pagination import PageQuery, page_of, paginate
from careaccess.api.problems import errors_for
from careaccess.core.context import Actor
from careaccess.core.errors import NotFound

from . import checkpoints, search
from .models import Entry

router = Router(tags=["audit"])

API_BASE = "/api/v1"


class EntryQuery(PageQuery):
    person: str | None = Field(None, description="a person's 12-digit user id: entries about them or made by them")
    organisation: str | None = Field(None, description="an organisation's code")
    actor: str | None = Field(None, description="who made the change: their user id, or part of their name")
    action: str | None = Field(None, description="the kind of change, or how it starts: `person.`, `request.approved`")
    access_request: str | None = Field(None, description="the reference of the access request that caused it")
    request_id: str | None = Field(None, description="the id of the web or API request that made it (X-Request-ID)")
    since: dt.datetime | None = Field(None, description="recorded at or after this time (ISO 8601 with offset)")
    until: dt.datetime | None = Field(None, description="recorded before this time (ISO 8601 with offset)")


class EntryLinks(Schema):
    entry: str = Field(..., description="this entry")
    access_request: str | None = Field(None, description="the access request (or batch) that caused it")
    same_request: str | None = Field(None, description="every entry made by the same web or API request")


class EntryOut(Schema):
    index: int
    recorded_at: dt.datetime
    actor_kind: str = Field(..., description="person, service or system")
    actor: str
    actor_uid: str | None
    actor_position: str | None = Field(None, description="the position the actor acted in")
    action: str
    target_type: str
    target_id: str
    person: str | None = Field(None, description="the user id of the person the change concerns")
    organisation: str | None = Field(None, description="the code of the organisation the change concerns")
    access_request: str | None = Field(None, description="the reference of the access request that caused it")
    request_id: str | None
    reason: str
    before: Any = Field(None, description="the thing before the change (JSON)")
    after: Any = Field(None, description="the thing after the change (JSON)")
    leaf_hash: str = Field(..., description="the entry's Merkle leaf hash (see docs/audit-ledger.md); empty for a "
                                            "moment after the entry is written, while it waits for its place")
    links: EntryLinks


def access_request_path(reference: str, base: str = "") -> str:
    """Where the access request (REQ-…) or batch (BAT-…) named in an entry is read."""
    if reference.startswith("BAT-"):
        return f"{base}/requests/batches/{quote(reference)}"
    return f"{base}/requests/{quote(reference)}"


def entry_out(e: Entry) -> dict:
    return {
        "index": e.index, "recorded_at": e.recorded_at, "actor_kind": e.actor_kind, "actor": e.actor,
        "actor_uid": e.actor_uid, "actor_position": e.actor_position, "action": e.action,
        "target_type": e.target_type, "target_id": e.target_id, "person": e.person_uid,
        "organisation": e.organisation_code, "access_request": e.access_request, "request_id": e.request_id,
        "reason": e.reason, "before": json.loads(e.before), "after": json.loads(e.after), "leaf_hash": e.leaf_hash,
        "links": {
            "entry": f"{API_BASE}/audit/entries/{e.index}",
            "access_request": access_request_path(e.access_request, API_BASE) if e.access_request else None,
            "same_request": f"{API_BASE}/audit/entries?{urlencode({'request_id': e.request_id})}" if e.request_id else None,
        },
    }


def _actor(request) -> Actor:
    return request.auth


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


@router.get("/audit/entries", response={200: page_of(EntryOut), **errors_for(401, 403, 422)},
            summary="Search the audit ledger",
            description="Entries the caller may read (auditor or RA manager activity: the organisations their "
                        "position covers and the people placed there), newest first, filtered by person, "
                        "organisation, actor, kind of change (`action`), access request, web request and time. "
                        "The search is itself recorded in the ledger (`audit.searched`).")
def list_audit_entries(request, query: Query[EntryQuery]):
    actor = _actor(request)
    filters = search.EntryFilter(
        person=_text(query.person), organisation=_text(query.organisation), actor=_text(query.actor),
        action=_text(query.action), access_request=_text(query.access_request), request_id=_text(query.request_id),
        since=query.since, until=query.until,
    )
    page = paginate(search.entries(actor, filters), query, entry_out)
    search.record_search(actor, filters, len(page["items"]))
    return page


@router.get("/audit/entries/{index}", response={200: EntryOut, **errors_for(401, 403, 404)},
            summary="Read one audit entry",
            description="404 when there is no such entry or it is outside the caller's scope. The read is "
                        "itself recorded in the ledger (`audit.entry_read`).")
def get_audit_entry(request, index: int):
    actor = _actor(request)
    entry = search.get_entry(actor, index)
    if entry is None:
        raise NotFound(f"no audit entry {index} that you may read")
    search.record_read(actor, entry)
    return entry_out(entry)


class KeyOut(Schema):
    key_id: str = Field(..., description="hex SHA-256 of the raw 32-byte Ed25519 public key")
    public_key: str = Field(..., description="the public key, PEM")
    valid_from: str | None = Field(None, description="it signs the checkpoints made from this time (UTC, "
                                                     "YYYY-MM-DDTHH:MM:SS.ffffffZ); null for the first key")
    valid_until: str | None = Field(None, description="until this time, when the next key took over; null for "
                                                      "the current key")
    endorsed_by: str | None = Field(None, description="the key before it, which endorsed it")
    endorsement: str | None = Field(None, description="that key's Ed25519 signature (base64) over "
                                                      "`careaccess-checkpoint-key-v1\\n<key_id>\\n<valid_from>\\n"
                                                      "<endorsed_by>\\n`")


class KeyListOut(Schema):
    format: str = Field(..., description="careaccess-checkpoint-keys-v1")
    keys: list[KeyOut] = Field(..., description="every key that has signed checkpoints, oldest first; the last "
                                                "signs now")


@router.get("/audit/keys", response={200: KeyListOut, **errors_for(401)},
            summary="The ledger's checkpoint signing keys",
            description="The public keys that sign the ledger's checkpoints, with when each signed them and each "
                        "key's endorsement by the one before (docs/audit-ledger.md): what an auditor checks proofs "
                        "and checkpoints with. Any API client may read it; the same list as "
                        "`careaccess audit public-key`.")
def list_audit_keys(request):
    return checkpoints.published_keys()

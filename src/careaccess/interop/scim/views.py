"""The SCIM 2.0 endpoints (RFC 7644) at /scim/v2.

Every request needs a careaccess bearer token with the `scim.read` scope (reads) or `scim.write`
(writes); the token's actor must also have the directory right (a relying service's token may
read people but not positions, and may write nothing). Writes run in one transaction through the
directory's service functions; a refusal changes nothing and answers a SCIM error body.
"""

from __future__ import annotations

import json
import logging
import re

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from careaccess.core import permissions
from careaccess.core.errors import CareAccessError

from .. import access
from . import errors, schema
from .errors import CONTENT_TYPE, ScimError
from .filter import FilterError, parse, to_q
from .resources import RESOURCES, etag_of

logger = logging.getLogger(__name__)


def _json(status: int, body, headers: dict | None = None) -> HttpResponse:
    out = HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        out[name] = value
    return out


def _base(request) -> str:
    return request.build_absolute_uri(reverse("scim-root")).rstrip("/")


def _body(request, *, limit: int | None = None):
    if limit is not None and len(request.body) > limit:
        raise ScimError(413, "tooLarge", f"the request is larger than {limit} bytes")
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ScimError(400, "invalidSyntax", "the body is not valid JSON") from None


def endpoint(methods: set[str]):
    """Wrap a view: method check, SCIM error bodies for every refusal, CSRF off (bearer tokens)."""

    def decorate(view):
        @csrf_exempt
        def wrapped(request, *args, **kwargs):
            if request.method not in methods:
                return errors.response(405, f"{request.method} is not supported here; use {', '.join(sorted(methods))}")
            try:
                return view(request, *args, **kwargs)
            except ScimError as exc:
                return errors.response(exc.status, exc.detail, exc.scim_type)
            except access.Unauthenticated as exc:
                return errors.response(401, exc.message, headers={"WWW-Authenticate": 'Bearer realm="careaccess"'})
            except CareAccessError as exc:
                exc = errors.from_exception(exc)
                return errors.response(exc.status, exc.detail, exc.scim_type)
            except IntegrityError:
                # a concurrent write took the same unique value between our check and the insert
                return errors.response(409, "another request changed the same data at the same time; retry", "uniqueness")
            except Exception:
                logger.exception("SCIM request failed: %s %s", request.method, request.path)
                return errors.response(500, "the server failed to answer this request; it has been logged")

        wrapped.__name__ = view.__name__
        return wrapped

    return decorate


def _reader(request, resource=None):
    actor = access.authenticate_with_scope(request, "scim.read")
    if resource is not None:
        permissions.authorise(actor, resource.read_action)
    return actor


def _writer(request):
    return access.authenticate_with_scope(request, "scim.write")


# --- attribute projection (attributes / excludedAttributes) ---

def _split(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def _locate(resource, path: str) -> tuple[str | None, str, str | None]:
    """(extension urn or None, attribute, sub-attribute) of a path, case as given."""
    lowered = path.lower()
    for urn in (resource.core, *resource.extensions):
        if lowered == urn.lower():
            return (None if urn == resource.core else urn), "", None
        if lowered.startswith(urn.lower() + ":"):
            rest = path[len(urn) + 1:]
            attr, _, sub = rest.partition(".")
            return (None if urn == resource.core else urn), attr, sub or None
    attr, _, sub = path.partition(".")
    return None, attr, sub or None


def _pick(container: dict, name: str):
    for key in container:
        if key.lower() == name.lower():
            return key
    return None


def project(doc: dict, resource, attributes: list[str], excluded: list[str]) -> dict:
    if not attributes and not excluded:
        return doc
    if attributes:
        out = {"schemas": [resource.core], "id": doc["id"]}
        for path in attributes:
            urn, attr, sub = _locate(resource, path)
            source = doc.get(urn, {}) if urn else doc
            target = out.setdefault(urn, {}) if urn else out
            if urn and not attr:
                if urn in doc:
                    out[urn] = doc[urn]
                continue
            key = _pick(source, attr) if isinstance(source, dict) else None
            if key is None or key in ("id", "schemas"):
                continue
            value = source[key]
            if sub and isinstance(value, dict):
                sub_key = _pick(value, sub)
                if sub_key is not None:
                    target.setdefault(key, {})[sub_key] = value[sub_key]
            elif sub and isinstance(value, list):
                picked = [{k: v for k, v in item.items() if k.lower() == sub.lower()} for item in value if isinstance(item, dict)]
                target[key] = [p for p in picked if p]
            else:
                target[key] = value
        for urn in list(out):
            if urn.startswith("urn:") and not out[urn]:
                del out[urn]
    else:
        out = json.loads(json.dumps(doc))
        for path in excluded:
            urn, attr, sub = _locate(resource, path)
            container = out.get(urn) if urn else out
            if urn and not attr:
                out.pop(urn, None)
                continue
            if not isinstance(container, dict):
                continue
            key = _pick(container, attr)
            if key is None or key in ("id", "schemas"):
                continue
            if sub and isinstance(container[key], dict):
                sub_key = _pick(container[key], sub)
                if sub_key:
                    del container[key][sub_key]
            elif sub and isinstance(container[key], list):
                for item in container[key]:
                    for k in [k for k in item if k.lower() == sub.lower()]:
                        del item[k]
            else:
                del container[key]
    out["schemas"] = [resource.core] + [urn for urn in resource.extensions if urn in out]
    return out


# --- discovery ---

@endpoint({"GET"})
def root(request):
    raise ScimError(404, None, "nothing here: see /ServiceProviderConfig, /ResourceTypes, /Schemas, /Users, /Groups")


@endpoint({"GET", "POST", "PUT", "PATCH", "DELETE"})
def not_found(request, rest=""):
    raise ScimError(404, None, f"{request.path} is not a SCIM endpoint of this server")


@endpoint({"GET"})
def service_provider_config(request):
    _reader(request)
    return _json(200, schema.service_provider_config(_base(request)))


def _list_of(items) -> dict:
    return {"schemas": [schema.LIST], "totalResults": len(items), "startIndex": 1, "itemsPerPage": len(items), "Resources": items}


@endpoint({"GET"})
def resource_types(request, name=None):
    _reader(request)
    items = schema.resource_types(_base(request))
    if name is None:
        return _json(200, _list_of(items))
    for item in items:
        if item["id"] == name:
            return _json(200, item)
    raise ScimError(404, None, f"no resource type is named {name}")


@endpoint({"GET"})
def schemas(request, urn=None):
    _reader(request)
    items = schema.schemas(_base(request))
    if urn is None:
        return _json(200, _list_of(items))
    for item in items:
        if item["id"] == urn:
            return _json(200, item)
    raise ScimError(404, None, f"no schema has the id {urn}")


# --- queries ---

def _int(value, name: str, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ScimError(400, "invalidValue", f"{name} must be a whole number") from None


def _filtered(resource, params: dict):
    """The resource's queryset, filtered and ordered as the query parameters ask."""
    queryset = resource.queryset()
    text = params.get("filter")
    if text not in (None, ""):
        if not isinstance(text, str):
            raise ScimError(400, "invalidFilter", "filter must be a string")
        try:
            queryset = queryset.filter(to_q(parse(text), resource.filters, (resource.core, *resource.extensions),
                                            model=resource.model))
        except FilterError as exc:
            raise ScimError(400, "invalidFilter", str(exc)) from None
    sort_by = params.get("sortBy")
    sort_order = str(params.get("sortOrder") or "ascending").lower()
    if sort_order not in ("ascending", "descending"):
        raise ScimError(400, "invalidValue", "sortOrder is ascending or descending")
    key = (sort_by or resource.default_order[0]).lower()
    key = key[len(resource.core) + 1:] if key.startswith(resource.core.lower() + ":") else key
    if key not in resource.sorts:
        raise ScimError(400, "invalidValue", f"cannot sort by {sort_by}; sortable: {', '.join(sorted(resource.sorts))}")
    queryset = resource.annotate_sort(queryset, key)
    return queryset.order_by(*[("-" + c if sort_order == "descending" else c) for c in resource.sorts[key]])


def _paging(params: dict) -> tuple[int, int]:
    start = max(_int(params.get("startIndex"), "startIndex", 1), 1)
    count = min(max(_int(params.get("count"), "count", schema.MAX_RESULTS // 5), 0), schema.MAX_RESULTS)
    return start, count


def _window(resource, queryset, start: int, count: int) -> tuple[list, int]:
    """The page's rows and totalResults. One row more than the page is read: when it is not there,
    the matches end inside this window and their number is known without a COUNT (a `userName eq`
    lookup is then one query, whatever `count` the client sends)."""
    rows = resource.fetch(queryset[start - 1:start + count]) if count else []
    if rows and len(rows) <= count:
        return rows, start - 1 + len(rows)
    if not rows and start == 1 and count:
        return rows, 0
    return rows[:count], queryset.count()


def _document(resource, resource_id: str, base: str) -> tuple[dict, list[str]]:
    """(document, user ids shown) of one resource, read like a page of one."""
    found = resource.documents(resource.fetch(resource.queryset().filter(resource.match(resource_id))), base)
    if not found:
        raise ScimError(404, None, f"no {resource.name} has the id {resource_id}")
    return found[0]


def _query(request, resource, params: dict) -> HttpResponse:
    actor = _reader(request, resource)
    queryset = _filtered(resource, params)
    start, count = _paging(params)
    rows, total = _window(resource, queryset, start, count)
    base = _base(request)
    attributes, excluded = _split(params.get("attributes")), _split(params.get("excludedAttributes"))
    documents = resource.documents(rows, base)
    items = [project(doc, resource, attributes, excluded) for doc, _ in documents]
    access.log_read(request, actor, "scim", [u for _, uids in documents for u in uids])
    return _json(200, {"schemas": [schema.LIST], "totalResults": total, "startIndex": start,
                       "itemsPerPage": len(items), "Resources": items})


def _search_params(request) -> dict:
    body = _body(request)
    if not isinstance(body, dict) or schema.SEARCH not in (body.get("schemas") or []):
        raise ScimError(400, "invalidSyntax", f"a search request lists the schema {schema.SEARCH}")
    return body


# --- writes, shared by the endpoints and Bulk ---

def _if_match(header: str | None, resource, resource_id: str, base: str) -> None:
    """Refuse (412) a write whose If-Match names another version of the locked resource."""
    if header and header.strip() != "*":
        _check_version(header, _document(resource, resource_id, base)[0])


def _check_version(header: str | None, doc: dict) -> None:
    if not header or header.strip() == "*":
        return
    current = doc["meta"]["version"]
    tags = [t.strip() for t in header.split(",")]
    if not any(t.removeprefix("W/") == current.removeprefix("W/") for t in tags):
        raise ScimError(412, None, f"the resource has changed (its version is now {current}); read it again and retry")


def do_create(actor, resource, body, base) -> dict:
    with transaction.atomic():
        obj = resource.create(actor, body, base)
    return _document(resource, str(obj.uid if resource.name == "User" else obj.id), base)[0]


def do_replace(actor, resource, resource_id, body, base, if_match=None) -> dict:
    with transaction.atomic():
        obj = resource.get(resource_id, lock=True)
        _if_match(if_match, resource, resource_id, base)
        resource.replace(actor, obj, body, base)
    return _document(resource, resource_id, base)[0]


def do_patch(actor, resource, resource_id, body, base, if_match=None) -> dict:
    if not isinstance(body, dict) or schema.PATCH not in (body.get("schemas") or []):
        raise ScimError(400, "invalidSyntax", f"a PATCH body lists the schema {schema.PATCH}")
    operations = next((v for k, v in body.items() if k.lower() == "operations"), None)
    with transaction.atomic():
        obj = resource.get(resource_id, lock=True)
        current = _document(resource, resource_id, base)[0]
        _check_version(if_match, current)
        current.pop("meta", None)
        patched = resource.patcher.apply(current, operations)
        resource.replace(actor, obj, patched, base)
    return _document(resource, resource_id, base)[0]


def do_delete(actor, resource, resource_id, base, if_match=None) -> None:
    with transaction.atomic():
        obj = resource.get(resource_id, lock=True)
        _if_match(if_match, resource, resource_id, base)
        resource.delete(actor, obj)


def _resource_response(status, doc, request, resource, headers=None):
    attributes = _split(request.GET.get("attributes"))
    excluded = _split(request.GET.get("excludedAttributes"))
    out = project(doc, resource, attributes, excluded) if (attributes or excluded) else doc
    return _json(status, out, {"ETag": doc["meta"]["version"], **(headers or {})})


@endpoint({"GET", "POST"})
def collection(request, kind):
    resource = RESOURCES[kind]
    if request.method == "GET":
        return _query(request, resource, request.GET)
    actor = _writer(request)
    doc = do_create(actor, resource, _body(request), _base(request))
    return _resource_response(201, doc, request, resource, {"Location": doc["meta"]["location"]})


@endpoint({"POST"})
def search(request, kind):
    return _query(request, RESOURCES[kind], _search_params(request))


@endpoint({"POST"})
def root_search(request):
    """POST /.search across Users then Groups (RFC 7644 §3.4.3). A resource type whose attributes
    the filter does not name, or that the actor may not read, contributes nothing; when the filter
    fits no type it is invalidFilter."""
    params = _search_params(request)
    actor = _reader(request)
    querysets, refusals = [], []
    for resource in RESOURCES.values():
        if not permissions.can(actor, resource.read_action):
            continue
        try:
            querysets.append((resource, _filtered(resource, params)))
        except ScimError as exc:
            refusals.append(exc)
    if not querysets:
        raise refusals[0] if refusals else ScimError(403, None, f"{actor.label} may read neither Users nor Groups")
    start, count = _paging(params)
    totals = [queryset.count() for _, queryset in querysets]
    base = _base(request)
    attributes, excluded = _split(params.get("attributes")), _split(params.get("excludedAttributes"))
    items, uids, offset, wanted = [], [], start - 1, count
    for (resource, queryset), total in zip(querysets, totals):
        if wanted <= 0:
            break
        if offset >= total:
            offset -= total
            continue
        documents = resource.documents(resource.fetch(queryset[offset:offset + wanted]), base)
        offset, wanted = 0, wanted - len(documents)
        items.extend(project(doc, resource, attributes, excluded) for doc, _ in documents)
        uids.extend(u for _, shown in documents for u in shown)
    access.log_read(request, actor, "scim", uids)
    return _json(200, {"schemas": [schema.LIST], "totalResults": sum(totals), "startIndex": start,
                       "itemsPerPage": len(items), "Resources": items})


@endpoint({"GET", "PUT", "PATCH", "DELETE"})
def item(request, kind, resource_id):
    resource = RESOURCES[kind]
    base = _base(request)
    if_match = request.META.get("HTTP_IF_MATCH")
    if request.method == "GET":
        actor = _reader(request, resource)
        doc, uids = _document(resource, resource_id, base)
        access.log_read(request, actor, "scim", uids)
        if_none_match = request.META.get("HTTP_IF_NONE_MATCH")
        if if_none_match and doc["meta"]["version"] in [t.strip() for t in if_none_match.split(",")]:
            response = HttpResponse(status=304)
            response["ETag"] = doc["meta"]["version"]
            return response
        return _resource_response(200, doc, request, resource)
    actor = _writer(request)
    if request.method == "DELETE":
        do_delete(actor, resource, resource_id, base, if_match)
        return HttpResponse(status=204)
    if request.method == "PUT":
        doc = do_replace(actor, resource, resource_id, _body(request), base, if_match)
    else:
        doc = do_patch(actor, resource, resource_id, _body(request), base, if_match)
    return _resource_response(200, doc, request, resource)


# --- Bulk (RFC 7644 §3.7) ---

_BULK_PATH = re.compile(r"^/(Users|Groups)(?:/([^/]+))?$")


def _substitute(value, ids: dict[str, str]):
    if isinstance(value, str) and value.startswith("bulkId:"):
        key = value[len("bulkId:"):]
        if key not in ids:
            raise ScimError(409, "invalidValue", f"bulkId {key} does not name an operation that succeeded before this one")
        return ids[key]
    if isinstance(value, list):
        return [_substitute(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, ids) for k, v in value.items()}
    return value


@endpoint({"POST"})
def bulk(request):
    actor = _writer(request)
    body = _body(request, limit=schema.BULK_MAX_PAYLOAD)
    if not isinstance(body, dict) or schema.BULK_REQUEST not in (body.get("schemas") or []):
        raise ScimError(400, "invalidSyntax", f"a bulk request lists the schema {schema.BULK_REQUEST}")
    operations = body.get("Operations")
    if not isinstance(operations, list) or not operations:
        raise ScimError(400, "invalidSyntax", "a bulk request has a non-empty list of Operations")
    if len(operations) > schema.BULK_MAX_OPERATIONS:
        raise ScimError(413, "tooLarge", f"a bulk request has at most {schema.BULK_MAX_OPERATIONS} operations")
    fail_on_errors = body.get("failOnErrors")
    if fail_on_errors is not None and (not isinstance(fail_on_errors, int) or fail_on_errors < 1):
        raise ScimError(400, "invalidValue", "failOnErrors is a whole number of 1 or more")
    base = _base(request)
    ids: dict[str, str] = {}
    results, failures = [], 0
    for operation in operations:
        if fail_on_errors and failures >= fail_on_errors:
            break
        result = {}
        try:
            if not isinstance(operation, dict):
                raise ScimError(400, "invalidSyntax", "each operation is an object with method and path")
            method = str(operation.get("method", "")).upper()
            result["method"] = method
            bulk_id = operation.get("bulkId")
            if bulk_id is not None:
                result["bulkId"] = bulk_id
            match = _BULK_PATH.match(str(operation.get("path", "")))
            if not match or method not in ("POST", "PUT", "PATCH", "DELETE"):
                raise ScimError(400, "invalidValue", "each operation is POST /Users|/Groups, or PUT, PATCH or DELETE "
                                "/Users/{id}|/Groups/{id}")
            resource = RESOURCES[match.group(1)]
            resource_id = match.group(2)
            if resource_id and resource_id.startswith("bulkId:"):
                resource_id = _substitute(resource_id, ids)
            data = _substitute(operation.get("data"), ids)
            version = operation.get("version")
            if method == "POST":
                if resource_id or not bulk_id:
                    raise ScimError(400, "invalidValue", "a POST operation targets a collection and has a bulkId")
                doc = do_create(actor, resource, data, base)
                ids[str(bulk_id)] = doc["id"]
                result.update(status="201", location=doc["meta"]["location"], version=doc["meta"]["version"])
            elif not resource_id:
                raise ScimError(400, "invalidValue", f"a {method} operation targets one resource: /{match.group(1)}/{{id}}")
            elif method == "DELETE":
                do_delete(actor, resource, resource_id, base, version)
                result.update(status="204", location=f"{base}/{match.group(1)}/{resource_id}")
            else:
                doc = (do_replace if method == "PUT" else do_patch)(actor, resource, resource_id, data, base, version)
                result.update(status="200", location=doc["meta"]["location"], version=doc["meta"]["version"])
        except (ScimError, CareAccessError) as exc:
            exc = errors.from_exception(exc) if not isinstance(exc, access.Unauthenticated) else ScimError(401, None, exc.message)
            failures += 1
            error = {"schemas": [schema.ERROR], "status": str(exc.status), "detail": exc.detail}
            if exc.scim_type:
                error["scimType"] = exc.scim_type
            result.update(status=str(exc.status), response=error)
        results.append(result)
    return _json(200, {"schemas": [schema.BULK_RESPONSE], "Operations": results})


__all__ = ["etag_of"]

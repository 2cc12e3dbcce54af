"""SCIM PATCH (RFC 7644 §3.5.2): add, replace and remove applied to a resource's JSON form.

The operations are applied to a copy of the resource as the server renders it; the result is
then written exactly like a PUT of that document, so PATCH and PUT share one path through the
service functions (and one set of rules). Paths are checked against the published schema:
read-only targets are refused with scimType mutability, unknown ones with invalidPath.
"""

from __future__ import annotations

import copy
import re

from . import filter as scim_filter
from .errors import ScimError

_PATH = re.compile(
    r"^(?P<urn>urn:[^\[\]]*:)?(?P<attr>[A-Za-z$][\w$-]*)(?:\[(?P<filter>.+)\])?(?:\.(?P<sub>[A-Za-z$][\w$-]*))?$",
    re.IGNORECASE,
)


def _index(attributes):
    return {a["name"].lower(): a for a in attributes}


def _sub_index(definition):
    return {a["name"].lower(): a for a in definition.get("subAttributes", [])}


def matches(node, element) -> bool:
    """Evaluate a value filter (the part inside [...]) against one element of a multi-valued attribute."""
    if isinstance(node, scim_filter.And):
        return matches(node.left, element) and matches(node.right, element)
    if isinstance(node, scim_filter.Or):
        return matches(node.left, element) or matches(node.right, element)
    if isinstance(node, scim_filter.Not):
        return not matches(node.inner, element)
    if not isinstance(element, dict):
        return False
    lowered = {str(k).lower(): v for k, v in element.items()}
    if isinstance(node, scim_filter.Present):
        return lowered.get(node.path.lower()) not in (None, "", [])
    if isinstance(node, scim_filter.Compare):
        actual = lowered.get(node.path.lower())
        expected = node.value
        if isinstance(actual, str) and isinstance(expected, str):
            actual, expected = actual.lower(), expected.lower()
        op = node.op
        if op == "eq":
            return actual == expected
        if op == "ne":
            return actual != expected
        if actual is None or expected is None:
            return False
        if op in ("co", "sw", "ew"):
            if not isinstance(actual, str):
                return False
            return {"co": expected in actual, "sw": actual.startswith(expected), "ew": actual.endswith(expected)}[op]
        try:
            return {"gt": actual > expected, "ge": actual >= expected, "lt": actual < expected, "le": actual <= expected}[op]
        except TypeError:
            return False
    raise ScimError(400, "invalidFilter", "a value filter in a PATCH path cannot itself contain [...]")


class Target:
    def __init__(self, container: dict, name: str, definition: dict, value_filter, sub: dict | None):
        self.container = container
        self.name = name
        self.definition = definition
        self.value_filter = value_filter
        self.sub = sub


class Patcher:
    def __init__(self, core_urn: str, core_attributes, extensions: dict[str, list], keep_booleans: bool = True):
        self.keep_booleans = keep_booleans
        self.core_urn = core_urn
        self.core = _index(core_attributes)
        self.core["externalid"] = {"name": "externalId", "type": "string", "multiValued": False, "mutability": "readWrite"}
        self.extensions = {urn.lower(): (urn, _index(attrs)) for urn, attrs in extensions.items()}

    # --- paths ---

    def resolve(self, doc: dict, path: str) -> Target | tuple[str, dict]:
        path = (path or "").strip()
        if path.lower() in self.extensions:
            urn, attrs = self.extensions[path.lower()]
            return urn, attrs
        match = _PATH.match(path)
        if not match:
            raise ScimError(400, "invalidPath", f"{path!r} is not a valid attribute path")
        urn = (match.group("urn") or "")[:-1]
        if not urn or urn.lower() == self.core_urn.lower():
            container, attrs = doc, self.core
        elif urn.lower() in self.extensions:
            real, attrs = self.extensions[urn.lower()]
            container = doc.setdefault(real, {})
        else:
            raise ScimError(400, "invalidPath", f"{urn} is not a schema of this resource")
        name = match.group("attr").lower()
        definition = attrs.get(name)
        if definition is None:
            raise ScimError(400, "invalidPath", f"{match.group('attr')} is not an attribute of this resource")
        value_filter = None
        if match.group("filter"):
            if not definition["multiValued"]:
                raise ScimError(400, "invalidPath", f"{definition['name']} is not multi-valued: it takes no [filter]")
            try:
                value_filter = scim_filter.parse(match.group("filter"))
            except scim_filter.FilterError as exc:
                raise ScimError(400, "invalidFilter", str(exc)) from None
        sub = None
        if match.group("sub"):
            sub = _sub_index(definition).get(match.group("sub").lower())
            if sub is None:
                raise ScimError(400, "invalidPath", f"{definition['name']} has no sub-attribute {match.group('sub')}")
        return Target(container, definition["name"], definition, value_filter, sub)

    @staticmethod
    def _check_mutable(definition: dict, op: str, existing=None):
        mutability = definition.get("mutability", "readWrite")
        if mutability == "readOnly":
            raise ScimError(400, "mutability", f"{definition['name']} is read-only")
        if mutability == "immutable" and op != "add" and existing not in (None, "", []):
            raise ScimError(400, "mutability", f"{definition['name']} is immutable once set")

    # --- operations ---

    def apply(self, doc: dict, operations) -> dict:
        doc = copy.deepcopy(doc)
        if not isinstance(operations, list) or not operations:
            raise ScimError(400, "invalidSyntax", "a PatchOp needs a non-empty list of Operations")
        for operation in operations:
            if not isinstance(operation, dict):
                raise ScimError(400, "invalidSyntax", "each operation is an object with op, path and value")
            lowered = {str(k).lower(): v for k, v in operation.items()}
            op = str(lowered.get("op", "")).lower()
            path = lowered.get("path")
            value = lowered.get("value")
            if op not in ("add", "replace", "remove"):
                raise ScimError(400, "invalidSyntax", f"op must be add, replace or remove, not {lowered.get('op')!r}")
            if path is not None and not isinstance(path, str):
                raise ScimError(400, "invalidPath", "path must be a string")
            if op == "remove":
                if not path:
                    raise ScimError(400, "noTarget", "a remove operation needs a path")
                self._remove(doc, path)
            elif "value" not in lowered:
                raise ScimError(400, "invalidValue", f"an {op} operation needs a value")
            elif not path:
                if not isinstance(value, dict):
                    raise ScimError(400, "invalidValue", f"an {op} without a path takes an object of attributes")
                for key, item in value.items():
                    if key.lower() in self.extensions and isinstance(item, dict):
                        for sub_key, sub_item in item.items():
                            self._set(doc, f"{self.extensions[key.lower()][0]}:{sub_key}", sub_item, op)
                    elif key.lower() == "schemas":
                        continue
                    else:
                        self._set(doc, key, item, op)
            else:
                self._set(doc, path, value, op)
        return doc

    def _set(self, doc, path, value, op):
        target = self.resolve(doc, path)
        if isinstance(target, tuple):
            urn, attrs = target
            if not isinstance(value, dict):
                raise ScimError(400, "invalidValue", f"{urn} takes an object of its attributes")
            for key, item in value.items():
                if key.lower() != "schemas":
                    self._set(doc, f"{urn}:{key}", item, op)
            return
        definition, container, name = target.definition, target.container, target.name
        existing = container.get(name)
        if target.value_filter is None and target.sub is None:
            self._check_mutable(definition, op, existing)
            if definition["multiValued"]:
                items = value if isinstance(value, list) else [value]
                if op == "add" and isinstance(existing, list):
                    container[name] = existing + [i for i in items if i not in existing]
                else:
                    container[name] = items
            elif definition["type"] == "complex" and op == "add" and isinstance(existing, dict) and isinstance(value, dict):
                merged = dict(existing)
                merged.update(value)
                container[name] = merged
            else:
                container[name] = value
            return
        if target.sub is not None:
            self._check_mutable(target.sub, op)
        else:
            self._check_mutable(definition, op)
        if definition["multiValued"]:
            elements = existing if isinstance(existing, list) else []
            chosen = [e for e in elements if target.value_filter is None or matches(target.value_filter, e)]
            if not chosen:
                if target.value_filter is not None and op == "replace":
                    raise ScimError(400, "noTarget", f"no value of {name} matches the filter in {path!r}")
                if target.sub is not None and target.value_filter is None:
                    container[name] = [{target.sub["name"]: value}]
                return
            for element in chosen:
                if target.sub is not None:
                    element[target.sub["name"]] = value
                elif isinstance(value, dict):
                    element.update(value)
            return
        complex_value = existing if isinstance(existing, dict) else {}
        complex_value[target.sub["name"]] = value
        container[name] = complex_value

    def _remove(self, doc, path):
        target = self.resolve(doc, path)
        if isinstance(target, tuple):
            urn, attrs = target
            for definition in attrs.values():
                self._check_mutable(definition, "remove", doc.get(urn, {}).get(definition["name"]))
            doc.pop(urn, None)
            return
        definition, container, name = target.definition, target.container, target.name
        existing = container.get(name)
        if target.value_filter is None and target.sub is None:
            self._check_mutable(definition, "remove", existing)
            if definition.get("type") == "boolean" and definition.get("required") is False and self.keep_booleans:
                raise ScimError(400, "mutability", f"{definition['name']} cannot be removed: set it to true or false")
            container.pop(name, None)
            return
        self._check_mutable(target.sub or definition, "remove", existing)
        if definition["multiValued"]:
            elements = existing if isinstance(existing, list) else []
            chosen = [e for e in elements if target.value_filter is None or matches(target.value_filter, e)]
            if target.value_filter is not None and not chosen:
                raise ScimError(400, "noTarget", f"no value of {name} matches the filter in {path!r}")
            if target.sub is None:
                container[name] = [e for e in elements if e not in chosen]
            else:
                for element in chosen:
                    element.pop(target.sub["name"], None)
            return
        if isinstance(existing, dict):
            existing.pop(target.sub["name"], None)

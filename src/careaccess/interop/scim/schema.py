"""What the SCIM server publishes about itself: Schemas, ResourceTypes, ServiceProviderConfig.

The schemas list only what careaccess stores, with the mutability it really has: a client (and
scim2-tester) sees, for example, that `groups`, `displayName` and the enterprise extension are
read-only — they are derived from the person's live assignments, which a client changes through
Group membership.
"""

from __future__ import annotations

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
POSITION = "urn:careaccess:params:scim:schemas:extension:position:2.0:Group"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SPC = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"

BULK_MAX_OPERATIONS = 100
BULK_MAX_PAYLOAD = 1_048_576
MAX_RESULTS = 500


def attr(name, type_="string", *, multi=False, required=False, mutability="readWrite", returned="default",
         case_exact=False, uniqueness="none", sub=None, description="", reference_types=None):
    out = {
        "name": name,
        "type": type_,
        "multiValued": multi,
        "description": description or name,
        "required": required,
        "mutability": mutability,
        "returned": returned,
    }
    if type_ in ("string", "reference", "binary"):
        out["caseExact"] = case_exact
        out["uniqueness"] = uniqueness
    if reference_types:
        out["referenceTypes"] = reference_types
    if sub is not None:
        out["subAttributes"] = sub
    return out


USER_ATTRIBUTES = [
    attr("userName", required=True, uniqueness="server",
         description="Unique sign-in name given by the provisioning client; the user id when none was given."),
    attr("name", "complex", required=True, sub=[
        attr("givenName", required=True),
        attr("familyName", required=True),
    ]),
    attr("displayName", mutability="readOnly", description="Given and family name."),
    attr("active", "boolean", description="false when the person is suspended."),
    attr("emails", "complex", multi=True, description="The person's one contact email address.", sub=[
        attr("value", description="An email address of a named individual (rule PP2)."),
    ]),
    attr("phoneNumbers", "complex", multi=True, mutability="readOnly", sub=[attr("value", mutability="readOnly")]),
    attr("groups", "complex", multi=True, mutability="readOnly",
         description="The positions the person holds through live assignments.", sub=[
             attr("value", mutability="readOnly"),
             attr("$ref", "reference", mutability="readOnly", reference_types=["Group"]),
             attr("display", mutability="readOnly"),
         ]),
    attr("roles", "complex", multi=True, mutability="readOnly",
         description="Job role codes of the person's live positions.", sub=[
             attr("value", mutability="readOnly"),
             attr("display", mutability="readOnly"),
         ]),
]

ENTERPRISE_ATTRIBUTES = [
    attr("employeeNumber", mutability="readOnly", description="The 12-digit user id."),
    attr("organization", mutability="readOnly", description="Code of the organisation of the first live position."),
    attr("department", mutability="readOnly", description="Organisational unit of the first live position."),
]

GROUP_ATTRIBUTES = [
    attr("displayName", required=True, description="The position's name, unique within its organisation."),
    attr("members", "complex", multi=True,
         description="People holding the position through live assignments. Adding one creates an "
                     "assignment; removing one ends it.", sub=[
             attr("value", mutability="immutable", description="The person's id (user id)."),
             attr("$ref", "reference", mutability="immutable", reference_types=["User"]),
             {**attr("type", mutability="immutable", description="User (groups do not nest)."), "canonicalValues": ["User"]},
         ]),
]

POSITION_ATTRIBUTES = [
    attr("organisationCode", mutability="readOnly",
         description="The organisation the position belongs to. Honoured on creation; otherwise the "
                     "acting position's organisation."),
    attr("organisationName", mutability="readOnly"),
    attr("unit", mutability="readOnly"),
    attr("roleCodes", multi=True, mutability="readOnly"),
    attr("activityCodes", multi=True, mutability="readOnly"),
]


def _schema(base: str, urn: str, name: str, description: str, attributes) -> dict:
    return {
        "schemas": [SCHEMA],
        "id": urn,
        "name": name,
        "description": description,
        "attributes": attributes,
        "meta": {"resourceType": "Schema", "location": f"{base}/Schemas/{urn}"},
    }


def schemas(base: str) -> list[dict]:
    return [
        _schema(base, USER, "User", "A person in the directory", USER_ATTRIBUTES),
        _schema(base, ENTERPRISE, "EnterpriseUser", "Enterprise User", ENTERPRISE_ATTRIBUTES),
        _schema(base, GROUP, "Group", "A position: a job type inside one organisation", GROUP_ATTRIBUTES),
        _schema(base, POSITION, "Position", "careaccess position details", POSITION_ATTRIBUTES),
    ]


def resource_types(base: str) -> list[dict]:
    return [
        {
            "schemas": [RESOURCE_TYPE], "id": "User", "name": "User", "endpoint": "/Users",
            "description": "People", "schema": USER,
            "schemaExtensions": [{"schema": ENTERPRISE, "required": False}],
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"},
        },
        {
            "schemas": [RESOURCE_TYPE], "id": "Group", "name": "Group", "endpoint": "/Groups",
            "description": "Positions", "schema": GROUP,
            "schemaExtensions": [{"schema": POSITION, "required": False}],
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/Group"},
        },
    ]


def service_provider_config(base: str) -> dict:
    return {
        "schemas": [SPC],
        "patch": {"supported": True},
        "bulk": {"supported": True, "maxOperations": BULK_MAX_OPERATIONS, "maxPayloadSize": BULK_MAX_PAYLOAD},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "careaccess API token",
            "description": "Authorization: Bearer ca_... with the scim.read (and, to write, scim.write) scope",
            "primary": True,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base}/ServiceProviderConfig"},
    }


def attribute_index(attributes) -> dict[str, dict]:
    """lower-cased name -> attribute definition (top level only)."""
    return {a["name"].lower(): a for a in attributes}

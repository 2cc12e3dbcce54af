from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "careaccess.interop"
    label = "interop"
    verbose_name = "interoperability (SCIM 2.0, FHIR R4)"

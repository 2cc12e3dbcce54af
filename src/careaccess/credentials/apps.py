from django.apps import AppConfig


class CredentialsConfig(AppConfig):
    name = "careaccess.credentials"
    label = "credentials"
    verbose_name = "credentials"

    def ready(self):
        from careaccess.web import sign_in_steps

        from .authenticators import has_second_factor, must_enrol

        sign_in_steps.register_second_factor(sign_in_steps.SecondFactor(held=has_second_factor,
                                                                        must_enrol=must_enrol))

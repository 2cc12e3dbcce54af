from django.apps import AppConfig


class MailboxesConfig(AppConfig):
    name = "careaccess.mailboxes"
    label = "mailboxes"
    verbose_name = "mailboxes"

    def ready(self):
        from careaccess.web import sign_in_steps

        from .views import first_sign_in_step

        sign_in_steps.register(first_sign_in_step)

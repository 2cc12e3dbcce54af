from django.apps import AppConfig


class MailboxesConfig(AppConfig):
    name = "careaccess.mailboxes"
    label = "mailboxes"
    verbose_name = "mailboxes"

"""Pages under /account/: the second sign-in step, authenticator set-up and self-service (DS2, PP4)."""

from django.urls import path

from . import cardviews, keyviews, racardactions, racardviews, ramisuseviews, raviews, selfcardviews, views

app_name = "credentials"

urlpatterns = [
    path("", views.account, name="account"),
    path("contact-details", views.contact_details, name="contact-details"),
    path("password", views.change_password, name="change-password"),
    path("report-a-breach", views.report_breach, name="report-breach"),
    path("terms", views.terms, name="terms"),
    path("card-sign-in", cardviews.card_sign_in, name="card-sign-in"),
    path("verify", views.verify, name="verify"),
    path("security", views.security, name="security"),
    path("security/authenticator-app", views.totp_enrol, name="totp-enrol"),
    path("security/security-key", keyviews.security_key, name="security-key"),
    path("security/security-key/options", keyviews.security_key_options, name="security-key-options"),
    path("verify/security-key/options", keyviews.verify_key_options, name="verify-key-options"),
    path("verify/security-key", keyviews.verify_key, name="verify-key"),
    # RA staff: a person's second factors, and removing a lost one
    path("people", raviews.find_person, name="find-person"),
    path("people/<str:uid>/authenticators", raviews.person_authenticators, name="person-authenticators"),
    path("people/<str:uid>/authenticators/<str:authenticator_id>/remove", raviews.remove_authenticator,
         name="remove-authenticator"),
    # RA staff: a person's smartcards (issue 5): issue, unlock, renew, repair, cancel, replace, misuse
    path("cards", racardviews.find_card_holder, name="find-card-holder"),
    path("cards/misuse-reports", ramisuseviews.misuse_reports, name="misuse-reports"),
    path("cards/misuse-reports/<int:report_id>", ramisuseviews.decide_misuse, name="decide-misuse"),
    path("people/<str:uid>/cards", racardviews.person_cards, name="person-cards"),
    path("people/<str:uid>/cards/issue", racardviews.issue_card, name="issue-card"),
    path("people/<str:uid>/cards/<str:serial>/<str:action>", racardactions.card_page, name="card-action"),
    # The card holder's own card: renewal (DS11, DS13), self-service unlock (DS9; unlocking needs no sign-in)
    path("smartcard/renew", selfcardviews.renew, name="self-card-renew"),
    path("smartcard/self-service-unlock", selfcardviews.register_unlock, name="self-card-unlock-register"),
    path("unlock-card", selfcardviews.unlock_start, name="self-unlock"),
    path("unlock-card/code", selfcardviews.unlock_code, name="self-unlock-code"),
    path("unlock-card/done", selfcardviews.unlock_done, name="self-unlock-done"),
]

"""Django settings, read from the environment so one build runs anywhere.

Every rule a deployment may tune (RULES.md) is a `CAREACCESS_*` setting below with the source's
value as its default.
"""

import os
import secrets
from pathlib import Path

import dj_database_url


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


PACKAGE_DIR = Path(__file__).resolve().parent
# The data folder holds the SQLite database, keys, the development mail folder and the secret key.
VAR_DIR = Path(os.environ.get("CAREACCESS_VAR", "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = VAR_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("DEBUG", False)
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "careaccess.core",
    "careaccess.core.audit",
    "careaccess.core.outbox",
    "careaccess.directory",
    "careaccess.access_requests",
    "careaccess.identity",
    "careaccess.credentials",
    "careaccess.lifecycle",
    "careaccess.reports",
    "careaccess.mailboxes",
    "careaccess.interop",
    "careaccess.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "careaccess.core.middleware.RequestIdMiddleware",
    "careaccess.core.middleware.PagesOnlyMiddleware",  # runs PAGE_MIDDLEWARE, except for /api/
    "django.middleware.common.CommonMiddleware",
]
# Pages only: the token-authenticated JSON API under /api/ has no use for them.
PAGE_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "careaccess.urls"
WSGI_APPLICATION = "careaccess.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"environment": "careaccess.web.jinja.environment"},
    },
    {
        # Django templates only for third-party pages (the OpenAPI docs page).
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'careaccess.sqlite3'}",
        conn_max_age=_env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN, so
        # two writers queue instead of failing with "database is locked" half-way through.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-careaccess.sqlite3")} if _env_bool(
        "CAREACCESS_TEST_SQLITE_FILE", False
    ) else {}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "auth.User"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/sign-in"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = _env_int("SESSION_COOKIE_AGE", 8 * 3600)
SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"  # filled by `careaccess collectstatic` for production
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [d for d in [Path(os.environ.get("CAREACCESS_ASSETS", PACKAGE_DIR.parent.parent / "assets"))] if d.exists()]
WHITENOISE_USE_FINDERS = True
# The NHS.UK stylesheet's Frutiger web fonts come only from assets.nhs.uk (licensed to NHS England,
# not in the npm package). Off: the copy of the stylesheet without them, in Arial, asking no other
# host for anything (a closed network); on: the stylesheet as published, fonts and all.
CAREACCESS_NHSUK_WEB_FONTS = _env_bool("CAREACCESS_NHSUK_WEB_FONTS", False)

# Mail: SMTP in production; in development a file per message under var/mail/ to read.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = str(VAR_DIR / "mail")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = _env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "careaccess <no-reply@careaccess.localhost>")
# The domain in every Message-ID this deployment writes.
CAREACCESS_MAIL_DOMAIN = os.environ.get("CAREACCESS_MAIL_DOMAIN", "careaccess.localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# --- careaccess rules a deployment may tune (defaults are the sources' values) ---
# Sign-in lockout: this many failures within the window lock the sign-in for the lockout period.
CAREACCESS_SIGNIN_MAX_FAILURES = _env_int("CAREACCESS_SIGNIN_MAX_FAILURES", 5)
CAREACCESS_SIGNIN_FAILURE_WINDOW_MINUTES = _env_int("CAREACCESS_SIGNIN_FAILURE_WINDOW_MINUTES", 15)
CAREACCESS_SIGNIN_LOCKOUT_MINUTES = _env_int("CAREACCESS_SIGNIN_LOCKOUT_MINUTES", 15)
# Audit ledger: the Ed25519 key signing checkpoints, and how often the worker makes one.
CAREACCESS_LEDGER_KEY = Path(os.environ.get("CAREACCESS_LEDGER_KEY", VAR_DIR / "keys" / "ledger-ed25519.pem"))
CAREACCESS_CHECKPOINT_EVERY_SECONDS = _env_int("CAREACCESS_CHECKPOINT_EVERY_SECONDS", 300)
# Second factors: the Fernet keys sealing TOTP secrets at rest, newest first (credentials/sealing.py).
CAREACCESS_TOTP_KEYS = Path(os.environ.get("CAREACCESS_TOTP_KEYS", VAR_DIR / "keys" / "totp.keys"))
# Outbox delivery: attempts before a message is reported to staff as failing (it is never
# dropped), and the first retry delay, doubled on each further attempt up to the maximum.
CAREACCESS_OUTBOX_REPORT_AFTER_ATTEMPTS = _env_int("CAREACCESS_OUTBOX_REPORT_AFTER_ATTEMPTS", 8)
CAREACCESS_OUTBOX_RETRY_SECONDS = _env_int("CAREACCESS_OUTBOX_RETRY_SECONDS", 30)
CAREACCESS_OUTBOX_RETRY_MAX_SECONDS = _env_int("CAREACCESS_OUTBOX_RETRY_MAX_SECONDS", 3600)
CAREACCESS_OUTBOX_LEASE_SECONDS = _env_int("CAREACCESS_OUTBOX_LEASE_SECONDS", 120)
CAREACCESS_OUTBOX_BATCH_SIZE = _env_int("CAREACCESS_OUTBOX_BATCH_SIZE", 100)
# Days a sent message is kept before the worker deletes it (careaccess's choice; queued ones are never deleted).
CAREACCESS_OUTBOX_SENT_RETENTION_DAYS = _env_int("CAREACCESS_OUTBOX_SENT_RETENTION_DAYS", 90)
# Where staff reports of failing mail go (the RA's shared inbox).
CAREACCESS_RA_EMAIL = os.environ.get("CAREACCESS_RA_EMAIL", "ra-team@careaccess.localhost")

# The activity codes that make a position's holders staff of careaccess itself. Positions carry
# them like any other activity (DESIGN.md: the system governs its own administrators).
CAREACCESS_STAFF_ACTIVITIES = {
    "sponsor": os.environ.get("CAREACCESS_ACTIVITY_SPONSOR", "B1300"),
    "authoriser": os.environ.get("CAREACCESS_ACTIVITY_AUTHORISER", "B9101"),
    "lead_correspondent": os.environ.get("CAREACCESS_ACTIVITY_LEAD_CORRESPONDENT", "B9102"),
    "ra_agent": os.environ.get("CAREACCESS_ACTIVITY_RA_AGENT", "B9103"),
    "ra_manager": os.environ.get("CAREACCESS_ACTIVITY_RA_MANAGER", "B9104"),
    "service_desk": os.environ.get("CAREACCESS_ACTIVITY_SERVICE_DESK", "B9105"),
    "local_administrator": os.environ.get("CAREACCESS_ACTIVITY_LOCAL_ADMINISTRATOR", "B0062"),
    "auditor": os.environ.get("CAREACCESS_ACTIVITY_AUDITOR", "B9106"),
}

# Access requests: the back office's SLA (rule CC7) counts working days (Monday to Friday);
# IG training counts as current for this many days (rule CC9); secondary-purpose requests are
# referred to the central team (rule CC2).
CAREACCESS_REQUEST_SLA_WORKING_DAYS = _env_bool("CAREACCESS_REQUEST_SLA_WORKING_DAYS", True)
CAREACCESS_IG_TRAINING_VALID_DAYS = _env_int("CAREACCESS_IG_TRAINING_VALID_DAYS", 365)
CAREACCESS_REQUEST_CENTRAL_TEAM_EMAIL = os.environ.get("CAREACCESS_REQUEST_CENTRAL_TEAM_EMAIL", "central-team@careaccess.localhost")

# Staff with RA agent, RA manager or sponsor rights must sign in with a second factor (issue 5).
CAREACCESS_REQUIRE_SECOND_FACTOR = _env_bool("CAREACCESS_REQUIRE_SECOND_FACTOR", True)

# Identity checks, smartcards and the certificate authority (issue 5).
CAREACCESS_PIN_MIN_LENGTH = _env_int("CAREACCESS_PIN_MIN_LENGTH", 6)
CAREACCESS_PIN_MAX_LENGTH = _env_int("CAREACCESS_PIN_MAX_LENGTH", 8)
CAREACCESS_PIN_MAX_TRIES = _env_int("CAREACCESS_PIN_MAX_TRIES", 3)
CAREACCESS_CERTIFICATE_VALIDITY_DAYS = _env_int("CAREACCESS_CERTIFICATE_VALIDITY_DAYS", 730)  # rule DS13
CAREACCESS_SELF_RENEWAL_WINDOW_DAYS = _env_int("CAREACCESS_SELF_RENEWAL_WINDOW_DAYS", 90)  # rule DS13
CAREACCESS_MAX_RENEWALS = _env_int("CAREACCESS_MAX_RENEWALS", 3)  # rule DS13
CAREACCESS_NON_RENEWABLE_SERIES = ("01", "02", "03")  # rule DS11
CAREACCESS_NEW_CARD_SERIES = os.environ.get("CAREACCESS_NEW_CARD_SERIES", "06")
CAREACCESS_ADDRESS_PROOF_MAX_AGE_MONTHS = _env_int("CAREACCESS_ADDRESS_PROOF_MAX_AGE_MONTHS", 3)  # rule DS7
CAREACCESS_CARD_MIN_ASSURANCE_LEVEL = _env_int("CAREACCESS_CARD_MIN_ASSURANCE_LEVEL", 2)  # rule DS1
CAREACCESS_UNLOCK_CODE_MINUTES = _env_int("CAREACCESS_UNLOCK_CODE_MINUTES", 15)  # rule DS9
CAREACCESS_UNLOCK_CODE_MAX_ATTEMPTS = _env_int("CAREACCESS_UNLOCK_CODE_MAX_ATTEMPTS", 5)
CAREACCESS_UNLOCK_CODES_PER_DAY = _env_int("CAREACCESS_UNLOCK_CODES_PER_DAY", 5)
CAREACCESS_MAILBOX_SERVICE = os.environ.get("CAREACCESS_MAILBOX_SERVICE", "nhsmail")  # rule DS9
CAREACCESS_RA_AGENT_TRAINING_DAYS = _env_int("CAREACCESS_RA_AGENT_TRAINING_DAYS", 90)  # rule DS10
CAREACCESS_PHARMACIST_JOB_ROLES = ("S8000:G8000:R8003",)  # rule DS8
CAREACCESS_CARD_CHALLENGE_SECONDS = _env_int("CAREACCESS_CARD_CHALLENGE_SECONDS", 120)
CAREACCESS_CRL_NEXT_UPDATE_HOURS = _env_int("CAREACCESS_CRL_NEXT_UPDATE_HOURS", 24)
CAREACCESS_CRL_URL = os.environ.get("CAREACCESS_CRL_URL", "http://localhost:8000/pki/crl.der")
CAREACCESS_PKI_DIR = Path(os.environ.get("CAREACCESS_PKI_DIR", VAR_DIR / "pki"))
CAREACCESS_CA_NAME = os.environ.get("CAREACCESS_CA_NAME", "careaccess")

# Care-home mailboxes (issue 7): the mail domain, a sponsor's decision timescale (rule NM2), the
# IG toolkit report's size limit, and the accounts a home gets (rule NM4: 3 individual + 1 shared;
# a home asking for more gets their sum, 4, without a justification).
CAREACCESS_MAILBOX_DOMAIN = os.environ.get("CAREACCESS_MAILBOX_DOMAIN", "mail.careaccess.localhost")
CAREACCESS_MAILBOX_DECISION_DAYS = _env_int("CAREACCESS_MAILBOX_DECISION_DAYS", 10)
CAREACCESS_MAILBOX_REPORT_MAX_BYTES = _env_int("CAREACCESS_MAILBOX_REPORT_MAX_BYTES", 5 * 1024 * 1024)
CAREACCESS_MAILBOX_MAX_INDIVIDUAL = _env_int("CAREACCESS_MAILBOX_MAX_INDIVIDUAL", 3)
CAREACCESS_MAILBOX_MAX_SHARED = _env_int("CAREACCESS_MAILBOX_MAX_SHARED", 1)

# OpenID Connect provider: the issuer URL (e.g. https://careaccess.example.nhs.uk/oidc). Empty:
# derived from each request's host, which suits a single-host development server only.
CAREACCESS_OIDC_ISSUER = os.environ.get("CAREACCESS_OIDC_ISSUER", "")
# Seconds the worker waits for a relying service to answer a back-channel logout POST (a failure
# is retried by the outbox like an email).
CAREACCESS_OIDC_BACKCHANNEL_TIMEOUT_SECONDS = _env_int("CAREACCESS_OIDC_BACKCHANNEL_TIMEOUT_SECONDS", 5)
# Lifetimes, in seconds: an authorization code; an access token (and the ID token issued with
# it); a refresh token, counted from the sign-in that began the chain (rotating it never extends
# it); a back-channel logout token, from the moment it is sent.
CAREACCESS_OIDC_CODE_SECONDS = _env_int("CAREACCESS_OIDC_CODE_SECONDS", 60)
CAREACCESS_OIDC_ACCESS_TOKEN_SECONDS = _env_int("CAREACCESS_OIDC_ACCESS_TOKEN_SECONDS", 600)
CAREACCESS_OIDC_REFRESH_TOKEN_SECONDS = _env_int("CAREACCESS_OIDC_REFRESH_TOKEN_SECONDS", 8 * 3600)
CAREACCESS_OIDC_LOGOUT_TOKEN_SECONDS = _env_int("CAREACCESS_OIDC_LOGOUT_TOKEN_SECONDS", 120)
# How often the worker deletes spent or expired authorization codes and client-assertion ids.
CAREACCESS_OIDC_PRUNE_EVERY_SECONDS = _env_int("CAREACCESS_OIDC_PRUNE_EVERY_SECONDS", 3600)

# Lifecycle (issue 6): warnings before inactivity suspension (rule PP7: 60 days, a service's
# policy) and before end dates; certificate expiry notices; sweep batches and schedule; how long a
# reviewer has to decide a campaign item (rule PP6); how long a reinstatement link lives (PP13).
CAREACCESS_INACTIVITY_WARNING_DAYS = _env_int("CAREACCESS_INACTIVITY_WARNING_DAYS", 7)
CAREACCESS_END_DATE_WARNING_DAYS = _env_int("CAREACCESS_END_DATE_WARNING_DAYS", 14)
CAREACCESS_CERTIFICATE_NOTICE_DAYS = (90, 30, 7)
# Rule DS10 gives no warning period before an untrained RA agent loses the role: two weeks leaves
# time to book one of the training sessions.
CAREACCESS_RA_TRAINING_WARNING_DAYS = _env_int("CAREACCESS_RA_TRAINING_WARNING_DAYS", 14)
CAREACCESS_SWEEP_BATCH_SIZE = _env_int("CAREACCESS_SWEEP_BATCH_SIZE", 1000)
CAREACCESS_SWEEP_EVERY_SECONDS = _env_int("CAREACCESS_SWEEP_EVERY_SECONDS", 3600)
CAREACCESS_REVIEW_DECISION_DAYS = _env_int("CAREACCESS_REVIEW_DECISION_DAYS", 28)
CAREACCESS_REINSTATEMENT_LINK_HOURS = _env_int("CAREACCESS_REINSTATEMENT_LINK_HOURS", 24)
# The address people reach careaccess at, for links in emails.
CAREACCESS_SITE_URL = os.environ.get("CAREACCESS_SITE_URL", "http://localhost:8000")

# API pagination.
CAREACCESS_PAGE_SIZE = _env_int("CAREACCESS_PAGE_SIZE", 50)
CAREACCESS_PAGE_SIZE_MAX = _env_int("CAREACCESS_PAGE_SIZE_MAX", 500)

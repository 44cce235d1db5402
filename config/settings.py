"""Settings for the POS backend. Every value comes from the environment (12-factor); see .env.example.

Modes:
- embedded (default): one SQLite file per module under var/, events delivered in-process, local-memory cache.
- service: DATABASE_URL_<MODULE> per module (PostgreSQL) and REDIS_URL for the Celery broker and the cache.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from environs import Env

BASE_DIR = Path(__file__).resolve().parent.parent


class _Env(Env):
    """environs, with the convention of .env.example: an empty variable is unset (its default applies).
    A malformed value stops the start-up with an error naming the variable (`DJANGO_DEBUG=ture`, `DB_CONN_MAX_AGE=6o`)."""

    def _get_value(self, env_key, default):
        value = super()._get_value(env_key, default)
        return default if value == "" else value


env = _Env()


@env.parser_for("csv")
def _csv(value: str) -> list[str]:
    """A comma-separated list (the default too); spaces around items and empty items are dropped."""
    return [item.strip() for item in value.split(",") if item.strip()]


# A local .env file (POS_ENV_FILE names another one) for variables the environment does not set.
env.read_env(env.str("POS_ENV_FILE", str(BASE_DIR / ".env")), recurse=False)

POS_ENV = env.str("POS_ENV", "development")  # development | test | production
PRODUCTION = POS_ENV == "production"

DEBUG = env.bool("DJANGO_DEBUG", default=not PRODUCTION)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", None)
ALLOWED_HOSTS = env.csv("DJANGO_ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver")

DEVELOPMENT_SECRET_KEY = "insecure-development-key-never-use-in-production"  # noqa: S105


def weak_secret_key(key: str | None) -> str | None:
    """Why a secret key is unfit for production (Django's deployment checklist), or None if it is fine."""
    if not key:
        return "DJANGO_SECRET_KEY is required in production"
    if key == DEVELOPMENT_SECRET_KEY or key.startswith("django-insecure") or "insecure" in key.lower():
        return "DJANGO_SECRET_KEY is a development or default key"
    if len(key) < 50 or len(set(key)) < 5:
        return "DJANGO_SECRET_KEY must be at least 50 characters with at least 5 different ones"
    return None


if PRODUCTION:
    problems = []
    if DEBUG:
        problems.append("DJANGO_DEBUG must be off in production")
    if weak_secret_key(SECRET_KEY):
        problems.append(weak_secret_key(SECRET_KEY))
    if not ALLOWED_HOSTS:
        problems.append("DJANGO_ALLOWED_HOSTS is required in production")
    if problems:
        raise ImproperlyConfigured("Refusing to start: " + "; ".join(problems) + ".")
elif not SECRET_KEY:
    SECRET_KEY = DEVELOPMENT_SECRET_KEY

INSTALLED_APPS = [
    "ops.apps.BackOfficeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files, not a CDN
    "axes",
    "pos",
    "ops",
    "modules.accounts",
    "modules.inventory",
    "modules.payment",
    "modules.restaurant",
    "modules.pos_core",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "pos.middleware.RequestContextMiddleware",
    "pos.middleware.ApiInputGuardMiddleware",
    "pos.middleware.NoStoreMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "pos.middleware.StaffTenantMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

# Admin sign-in: django-axes first (refuses a locked-out username+address before the password is checked),
# then staff whose restaurant is active (modules/accounts/backends.py).
AUTHENTICATION_BACKENDS = ["modules.accounts.backends.LockoutBackend", "modules.accounts.backends.StaffBackend"]
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("ADMIN_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_CALLABLE = "modules.accounts.backends.login_locked_out"
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"  # in the accounts database: every process sees it
AXES_CLIENT_IP_CALLABLE = "modules.accounts.backends.client_address"  # the same address the API throttles

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],  # templates live in their app (APP_DIRS)
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Databases: one per module -------------------------------------------------------------------
# The alias of each module's database. `default` holds accounts and Django's contrib apps.
MODULE_DATABASES = {
    "accounts": "default",
    "inventory": "inventory",
    "pos_core": "pos_core",
    "payment": "payment",
    "restaurant": "restaurant",
}
DATABASE_ROUTERS = ["pos.db.router.ModuleRouter"]
VAR_DIR = Path(env.str("POS_VAR_DIR", str(BASE_DIR / "var")))


def _database(alias: str) -> dict:
    env_name = "DATABASE_URL" if alias == "default" else f"DATABASE_URL_{alias.upper()}"
    url = env.str(env_name, None)
    if url is None and alias == "default":
        url = env.str("DATABASE_URL_ACCOUNTS", None)
    if url is None:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        name = "accounts" if alias == "default" else alias
        config = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / f"{name}.sqlite3"),
            # WAL and a busy timeout let the web process and the in-process relay share the files.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
            "TEST": {"NAME": str(VAR_DIR / f"test_{name}.sqlite3")},
        }
        return config
    if url.startswith(("mongodb://", "mongodb+srv://")):
        import django_mongodb_backend  # only installed where MongoDB is used

        return django_mongodb_backend.parse_uri(url, db_name=env.str(f"MONGODB_NAME_{alias.upper()}", f"pos_{alias}"))
    config = dj_database_url.parse(url, conn_max_age=env.int("DB_CONN_MAX_AGE", 60), conn_health_checks=True)
    config.setdefault("TEST", {})["NAME"] = f"test_{config['NAME']}"
    return config


DATABASES = {alias: _database(alias) for alias in dict.fromkeys(MODULE_DATABASES.values())}
SERVICE_MODE = any(db["ENGINE"] != "django.db.backends.sqlite3" for db in DATABASES.values())
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and broker ----------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", None)
if REDIS_URL:
    # Short socket timeouts: an unreachable cache is a slower catalog read (it falls back to inventory), never
    # a request stuck on it.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "pos"}}

# Embedded mode runs Celery tasks in-process (no broker); service mode needs REDIS_URL.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
# On Redis, kombu's transport with one client per channel instead of one per message sent (pos/events/broker.py).
CELERY_BROKER_TRANSPORT = "pos.events.broker:Transport" if CELERY_BROKER_URL.startswith("redis://") else None
# The queue tasks are sent to and workers read: deployments (or a benchmark, a test run) sharing one Redis each
# name their own, so no worker drains another's tasks.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# Do not lose work: ack after the task ran, requeue if the worker dies, one message at a time.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}  # modules add their periodic tasks in their AppConfig.ready()
# A broker that is down must not hold up a committed request: fail fast, the sweep sends it later.
CELERY_BROKER_CONNECTION_TIMEOUT = env.int("CELERY_BROKER_CONNECTION_TIMEOUT", 2)
# Keep a worker's database connections across tasks (Celery closes them after every task otherwise, and a
# delivery would pay a new connection to each module database); the tasks close broken or old ones first.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", 1000)

# --- Event backbone (pos/events) -------------------------------------------------------------------
# In-process delivery right after commit (embedded mode); service mode enqueues a Celery task instead.
EVENTS_IN_PROCESS = env.bool("EVENTS_IN_PROCESS", default=CELERY_TASK_ALWAYS_EAGER)
EVENTS_MAX_ATTEMPTS = env.int("EVENTS_MAX_ATTEMPTS", 5)  # then the delivery is dead-lettered
EVENTS_RETRY_BASE_MS = env.int("EVENTS_RETRY_BASE_MS", 2000)  # retry after 2 s, 4 s, 8 s, ... capped below
EVENTS_RETRY_MAX_MS = env.int("EVENTS_RETRY_MAX_MS", 300_000)
EVENTS_CLAIM_MS = env.int("EVENTS_CLAIM_MS", 60_000)  # a relay's lease on a row; longer than any handler
EVENTS_SWEEP_MS = env.int("EVENTS_SWEEP_MS", 5000)  # periodic sweep of rows left behind
EVENTS_SWEEP_GRACE_MS = env.int("EVENTS_SWEEP_GRACE_MS", 2000)  # fresh rows are the after-commit relay's
EVENTS_REENQUEUE_MS = env.int("EVENTS_REENQUEUE_MS", 30_000)  # a row sent and not yet run is sent again after
EVENTS_SWEEP_BATCH = env.int("EVENTS_SWEEP_BATCH", 500)
EVENTS_BROKER_COOLDOWN_MS = env.int("EVENTS_BROKER_COOLDOWN_MS", 5000)  # after a broker error, rows go to the sweep
EVENTS_HANDLER_MODULES = env.csv("EVENTS_HANDLER_MODULES", "")  # extra handler modules to load (tests, tools)
# Retention: delivered events with their deliveries, and inbox records, are purged after this many hours (never
# shorter than the retry horizon: refused at start-up), every EVENTS_PURGE_EVERY_SECONDS, in batches; dead
# letters stay until an operator acts.
EVENTS_RETENTION_HOURS = env.int("EVENTS_RETENTION_HOURS", 7 * 24)
EVENTS_PURGE_EVERY_SECONDS = env.int("EVENTS_PURGE_EVERY_SECONDS", 3600)
EVENTS_PURGE_BATCH = env.int("EVENTS_PURGE_BATCH", 5000)
EVENTS_PURGE_PAUSE_MS = env.int("EVENTS_PURGE_PAUSE_MS", 20)  # between batches: room for everyone else
EVENTS_PURGE_MAX_SECONDS = env.int("EVENTS_PURGE_MAX_SECONDS", 600)  # one run's share; the next run goes on

# --- Module settings ------------------------------------------------------------------------------
# inventory: how long a reservation holds stock, and how often expired ones are released
INVENTORY_RESERVATION_TTL_SECONDS = env.int("INVENTORY_RESERVATION_TTL_SECONDS", 15 * 60)
INVENTORY_EXPIRY_SWEEP_SECONDS = env.int("INVENTORY_EXPIRY_SWEEP_SECONDS", 60)
# payment: a pending charge younger than this is never declared failed; how often pending ones are resolved;
# what the simulated card/wallet provider does by default (approve, decline, error, timeout, slow, lost, drop)
PAYMENT_PENDING_GRACE_SECONDS = env.int("PAYMENT_PENDING_GRACE_SECONDS", 30)
PAYMENT_RESOLVE_PENDING_EVERY_SECONDS = env.int("PAYMENT_RESOLVE_PENDING_EVERY_SECONDS", 60)
PAYMENT_SIMULATOR_BEHAVIOUR = env.str("PAYMENT_SIMULATOR_BEHAVIOUR", "approve")
# pos_core: the most lines an order may have; saga recovery interval and when a saga counts as stuck
POS_ORDER_MAX_LINES = env.int("POS_ORDER_MAX_LINES", 50)
POS_SAGA_RECOVERY_INTERVAL = env.int("POS_SAGA_RECOVERY_INTERVAL", 30)
POS_SAGA_STUCK_SECONDS = env.int("POS_SAGA_STUCK_SECONDS", 60)
# Stock of a table check's rounds is held this long before expiry releases it (the check is flagged long before).
POS_TABLE_RESERVATION_TTL_SECONDS = env.int("POS_TABLE_RESERVATION_TTL_SECONDS", 48 * 3600)
# ops: when the nightly reconcile across the module databases runs (HH:MM UTC, Celery's time zone)
RECONCILE_AT = env.str("RECONCILE_AT", "02:30")

# --- Internationalisation ------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("my", "Burmese")]
TIME_ZONE = env.str("TIME_ZONE", "Asia/Yangon")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))

# --- REST API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["modules.accounts.http.authentication.TerminalTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["pos.api.permissions.RoleMatrix"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["pos.api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "pos.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "pos.api.errors.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "pos.api.schema.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": True,
    # Failed credentials (wrong bearer tokens, wrong manager approval codes) per client address
    # (pos/api/throttling.py); the address is REMOTE_ADDR unless API_NUM_PROXIES proxies are trusted.
    "DEFAULT_THROTTLE_RATES": {"failed_credentials": env.str("API_FAILED_CREDENTIALS_RATE", "10/min")},
    "NUM_PROXIES": env.int("API_NUM_PROXIES", 0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Restaurant POS API",
    "DESCRIPTION": "Terminal API: catalog, stock, orders, payments, refunds, menus, tables, reports.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Error answers every endpoint can give, documented once (pos/api/schema.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "pos.api.schema.document_problems"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# Content-Security-Policy on every page (django-csp): our own scripts only (the admin's and Swagger UI's, served
# from static files), no framing, no plugins. Inline style attributes stay allowed for the admin and Swagger UI.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# Hostile input: the largest request body and the deepest JSON the API accepts (pos/api/parsers.py).
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", 256 * 1024)
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", 20)
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", 48)
# A request that died holding a key releases it after this many seconds, so a retry can proceed, unless its
# death is seen sooner: on PostgreSQL the request holds a session advisory lock on the key that vanishes with its
# connection (turn IDEMPOTENCY_ADVISORY_LOCKS off when `default` sits behind a transaction-mode pooler, where
# session locks do not follow the client); on one host a retry also sees that the holder's process is gone.
IDEMPOTENCY_LOCK_SECONDS = env.int("IDEMPOTENCY_LOCK_SECONDS", 60)
IDEMPOTENCY_ADVISORY_LOCKS = env.bool("IDEMPOTENCY_ADVISORY_LOCKS", default=True)
# /readyz shows its checks (components, errors) only to superusers and to callers sending this token.
READYZ_TOKEN = env.str("READYZ_TOKEN", "")
TERMINAL_LAST_USED_RESOLUTION_SECONDS = env.int("TERMINAL_LAST_USED_RESOLUTION_SECONDS", 60)

# --- Logging: one JSON object a line, with tenant, request and saga ids ------------------------
LOG_LEVEL = env.str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "pos.logging.ContextFilter"}},
    "formatters": {"json": {"()": "pos.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["context"], "formatter": "json"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "django.server": {"level": env.str("DJANGO_SERVER_LOG_LEVEL", "INFO")},
    },
}

# --- Security: production hardening (passes `check --deploy`) -----------------------------------
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS = env.csv("DJANGO_CSRF_TRUSTED_ORIGINS", "")
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "modules.accounts"
    label = "accounts"
    verbose_name = "Accounts (restaurants, staff, terminals)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_login_failed

        from pos.api.permissions import register_approval_verifier
        from pos.tenancy import register_tenant_directory

        from .backends import log_login_failure
        from .http.approvals import verify_manager_approval
        from .selectors import tenant_directory

        register_tenant_directory(tenant_directory)
        register_approval_verifier(verify_manager_approval)
        user_login_failed.connect(log_login_failure, dispatch_uid="accounts-log-login-failure")

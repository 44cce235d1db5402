from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "modules.accounts"
    label = "accounts"
    verbose_name = "Accounts (restaurants, staff, terminals)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from pos.tenancy import register_tenant_directory

        from .selectors import tenant_directory

        register_tenant_directory(tenant_directory)

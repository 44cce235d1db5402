from rest_framework.permissions import BasePermission


class IsTenantTerminal(BasePermission):
    """An authenticated terminal (or staff principal) bound to one tenant."""

    message = "Authentication with a terminal token is required."

    def has_permission(self, request, view) -> bool:
        return bool(getattr(request.user, "is_authenticated", False) and getattr(request.user, "tenant_id", None))


def roles(*allowed: str) -> type[BasePermission]:
    """A permission class admitting terminals whose role is one of `allowed`."""

    class HasRole(IsTenantTerminal):
        message = f"This action needs one of the roles: {', '.join(allowed)}."

        def has_permission(self, request, view) -> bool:
            return super().has_permission(request, view) and getattr(request.user, "role", None) in allowed

    HasRole.__name__ = f"HasRole_{'_'.join(allowed)}"
    return HasRole

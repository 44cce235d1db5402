from django.apps import AppConfig


class RestaurantConfig(AppConfig):
    name = "modules.restaurant"
    label = "restaurant"
    verbose_name = "Restaurant (menus, tables)"
    default_auto_field = "django.db.models.BigAutoField"

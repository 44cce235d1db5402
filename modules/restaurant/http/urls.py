from django.urls import path

from . import views

urlpatterns = [
    path("menus", views.MenuListView.as_view(), name="restaurant-menus"),
    path("menus/<str:menu_id>", views.MenuDetailView.as_view(), name="restaurant-menu"),
    path("tables", views.TableListView.as_view(), name="restaurant-tables"),
    path("tables/<str:table_id>", views.TableDetailView.as_view(), name="restaurant-table"),
    *[path(f"tables/<str:table_id>/{action}", views.TableActionView.as_view(table_action=action),
           name=f"restaurant-table-{action}") for action in views.TABLE_ACTIONS],
]

from django.urls import path

from . import views

urlpatterns = [
    path("menus", views.MenuListView.as_view(), name="restaurant-menus"),
    path("menus/<str:menu_id>", views.MenuDetailView.as_view(), name="restaurant-menu"),
    path("tables", views.TableListView.as_view(), name="restaurant-tables"),
    path("tables/<str:table_id>", views.TableDetailView.as_view(), name="restaurant-table"),
    path("tables/<str:table_id>/open", views.TableOpenView.as_view(), name="restaurant-table-open"),
    path("tables/<str:table_id>/close", views.TableCloseView.as_view(), name="restaurant-table-close"),
    path("tables/<str:table_id>/clean", views.TableCleanView.as_view(), name="restaurant-table-clean"),
    path("tables/<str:table_id>/move", views.TableMoveView.as_view(), name="restaurant-table-move"),
    path("tables/<str:table_id>/merge", views.TableMergeView.as_view(), name="restaurant-table-merge"),
]

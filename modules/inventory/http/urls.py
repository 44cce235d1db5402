from django.urls import path

from .views import AdjustmentView, CategoryListView, ProductDetailView, ProductListView

urlpatterns = [
    path("catalog/products", ProductListView.as_view(), name="inventory-products"),
    path("catalog/products/<str:product_id>", ProductDetailView.as_view(), name="inventory-product"),
    path("catalog/categories", CategoryListView.as_view(), name="inventory-categories"),
    path("inventory/adjustments", AdjustmentView.as_view(), name="inventory-adjustments"),
]

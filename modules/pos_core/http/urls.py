from django.urls import path

from . import views

urlpatterns = [
    path("orders", views.OrderListView.as_view(), name="pos-core-orders"),
    path("orders/<str:order_id>", views.OrderDetailView.as_view(), name="pos-core-order"),
    path("orders/<str:order_id>/refund", views.OrderRefundView.as_view(), name="pos-core-order-refund"),
    path("orders/<str:order_id>/receipt", views.OrderReceiptView.as_view(), name="pos-core-order-receipt"),
    path("reports/sales", views.SalesReportView.as_view(), name="pos-core-sales-report"),
    path("reports/end-of-day", views.EndOfDayView.as_view(), name="pos-core-end-of-day"),
    path("alerts", views.AlertListView.as_view(), name="pos-core-alerts"),
    path("alerts/<str:alert_id>/close", views.AlertCloseView.as_view(), name="pos-core-alert-close"),
    path("stock-levels", views.StockLevelsView.as_view(), name="pos-core-stock-levels"),
]

from django.urls import path

from . import table_views, views

urlpatterns = [
    path("orders", views.OrderListView.as_view(), name="pos-core-orders"),
    path("orders/<str:order_id>", views.OrderDetailView.as_view(), name="pos-core-order"),
    path("orders/<str:order_id>/refund", views.OrderRefundView.as_view(), name="pos-core-order-refund"),
    path("orders/<str:order_id>/receipt", views.OrderReceiptView.as_view(), name="pos-core-order-receipt"),
    path("orders/<str:order_id>/items", table_views.OrderItemsView.as_view(), name="pos-core-order-items"),
    path("orders/<str:order_id>/items/<str:item_id>/void", table_views.OrderItemVoidView.as_view(),
         name="pos-core-order-item-void"),
    path("orders/<str:order_id>/comps", table_views.OrderCompView.as_view(), name="pos-core-order-comps"),
    path("orders/<str:order_id>/discounts", table_views.OrderDiscountView.as_view(), name="pos-core-order-discounts"),
    path("orders/<str:order_id>/bill", table_views.OrderBillView.as_view(), name="pos-core-order-bill"),
    path("orders/<str:order_id>/split", table_views.OrderSplitView.as_view(), name="pos-core-order-split"),
    path("orders/<str:order_id>/payments", table_views.OrderPaymentsView.as_view(), name="pos-core-order-payments"),
    path("kitchen/tickets", table_views.KitchenTicketListView.as_view(), name="pos-core-kitchen-tickets"),
    path("kitchen/tickets/<str:ticket_id>/bump", table_views.KitchenTicketBumpView.as_view(),
         name="pos-core-kitchen-ticket-bump"),
    path("reports/sales", views.SalesReportView.as_view(), name="pos-core-sales-report"),
    path("reports/end-of-day", views.EndOfDayView.as_view(), name="pos-core-end-of-day"),
    path("alerts", views.AlertListView.as_view(), name="pos-core-alerts"),
    path("alerts/<str:alert_id>/close", views.AlertCloseView.as_view(), name="pos-core-alert-close"),
    path("stock-levels", views.StockLevelsView.as_view(), name="pos-core-stock-levels"),
]

from django.urls import path

from .views import (
    CurrentShiftView,
    DrawerListView,
    PaymentDetailView,
    PaymentListView,
    PaymentMethodsView,
    PaymentRefundsView,
    ShiftCashMovementsView,
    ShiftCloseView,
    ShiftDetailView,
    ShiftListView,
    ShiftReportView,
)

urlpatterns = [
    path("payments", PaymentListView.as_view(), name="payment-list"),
    path("payments/methods", PaymentMethodsView.as_view(), name="payment-methods"),
    path("payments/<uuid:payment_id>", PaymentDetailView.as_view(), name="payment-detail"),
    path("payments/<uuid:payment_id>/refunds", PaymentRefundsView.as_view(), name="payment-refunds"),
    path("drawers", DrawerListView.as_view(), name="drawer-list"),
    path("shifts", ShiftListView.as_view(), name="shift-list"),
    path("shifts/current", CurrentShiftView.as_view(), name="shift-current"),
    path("shifts/<uuid:shift_id>", ShiftDetailView.as_view(), name="shift-detail"),
    path("shifts/<uuid:shift_id>/report", ShiftReportView.as_view(), name="shift-report"),
    path("shifts/<uuid:shift_id>/cash-movements", ShiftCashMovementsView.as_view(), name="shift-cash-movements"),
    path("shifts/<uuid:shift_id>/close", ShiftCloseView.as_view(), name="shift-close"),
]

from django.urls import path

from .views import PaymentDetailView, PaymentListView, PaymentMethodsView, PaymentRefundsView

urlpatterns = [
    path("payments", PaymentListView.as_view(), name="payment-list"),
    path("payments/methods", PaymentMethodsView.as_view(), name="payment-methods"),
    path("payments/<uuid:payment_id>", PaymentDetailView.as_view(), name="payment-detail"),
    path("payments/<uuid:payment_id>/refunds", PaymentRefundsView.as_view(), name="payment-refunds"),
]

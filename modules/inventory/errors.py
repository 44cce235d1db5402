"""Errors of the inventory module. Each carries what the caller needs to recover in `extra`."""

from pos.errors import Conflict, InvalidInput, NotFound, StaleVersion, Unprocessable

__all__ = [
    "CategoryNotFound", "CountBelowReserved", "InsufficientStock", "InvalidProduct", "InvalidQuantity",
    "ProductExists", "ProductNotFound", "ReservationKeyConflict", "ReservationNotActive", "ReservationNotFound",
    "StaleVersion", "StockKeyConflict", "VariantNotFound", "VariantRequired",
]


class ProductNotFound(NotFound):
    type = "product-not-found"
    title = "Product not found"


class VariantNotFound(ProductNotFound):
    type = "variant-not-found"
    title = "Variant not found"


class CategoryNotFound(NotFound):
    type = "category-not-found"
    title = "Category not found"


class ReservationNotFound(NotFound):
    type = "reservation-not-found"
    title = "Reservation not found"


class InvalidQuantity(InvalidInput):
    type = "invalid-quantity"
    title = "Invalid quantity"


class VariantRequired(InvalidInput):
    type = "variant-required"
    title = "This product is stocked per variant; name the variant"


class InvalidProduct(InvalidInput):
    """A product or category document failed validation; `extra["errors"]` lists each field and why."""

    type = "invalid-product"
    title = "Invalid product"


class ProductExists(Conflict):
    type = "product-exists"
    title = "A product or category with this id exists"


class InsufficientStock(Conflict):
    """Not enough stock for some lines; `extra["lines"]` = [{product_id, variant, requested, available}]."""

    type = "insufficient-stock"
    title = "Not enough stock"


class CountBelowReserved(Conflict):
    type = "count-below-reserved"
    title = "The count is below the quantity reserved by open orders"


class ReservationNotActive(Conflict):
    type = "reservation-not-active"
    title = "The reservation is no longer active"


class ReservationKeyConflict(Unprocessable):
    type = "reservation-key-conflict"
    title = "The reservation key was already used for different lines"


class StockKeyConflict(Unprocessable):
    type = "stock-key-conflict"
    title = "The adjustment key was already used for a different adjustment"

"""Hooks on the test app's invoices: a change trigger with a shaped payload, and a delete hook."""

from django.db.models import signals

from durian.hook import ModelHook

from .models import Invoice


class InvoiceHook(ModelHook):
    """An invoice was created, or its status changed."""

    name = "invoice"
    model = Invoice
    provides_args = ["number", "status", "amount", "customer", "paid_at"]
    on_change = ("status",)
    fields_schema = {"customer_name": {"type": ["string", "null"]}}

    def shape(self, instance, data):
        data["customer_name"] = instance.customer.name if instance.customer_id else None
        return data


class InvoiceDeletedHook(ModelHook):
    """An invoice was deleted."""

    name = "invoice.deleted"
    model = Invoice
    signal = signals.post_delete
    provides_args = ["number", "status"]

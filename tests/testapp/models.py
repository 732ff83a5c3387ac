import uuid

from django.db import models

from durian.bulk import HookedManager


class Customer(models.Model):
    name = models.CharField(max_length=100)


class Order(models.Model):
    """A model with the field types a payload must serialise cleanly."""

    ref = models.UUIDField(default=uuid.uuid4)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    total = models.DecimalField(max_digits=10, decimal_places=2)
    placed_on = models.DateField()
    placed_at = models.DateTimeField()
    note = models.CharField(max_length=100, blank=True)
    internal = models.CharField(max_length=100, blank=True)


class Invoice(models.Model):
    """A model with a status, for change triggers and bulk writes (its manager fires hooks)."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        SENT = "sent"
        PAID = "paid"

    number = models.CharField(max_length=20)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    amount = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL)
    paid_at = models.DateTimeField(null=True, blank=True)
    memo = models.CharField(max_length=100, blank=True, help_text="Never leaves the site.")

    objects = HookedManager()

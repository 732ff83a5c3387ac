import uuid

from django.db import models


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

from django.db import models


class Person(models.Model):
    name = models.CharField(max_length=100)
    address = models.CharField(max_length=200, blank=True)
    secret = models.CharField(max_length=100, blank=True, help_text="Never leaves the site.")

    class Meta:
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return self.name


class Received(models.Model):
    """A webhook the example's own receiver got (the receiving site's side of the demo)."""

    webhook_id = models.CharField(max_length=200, unique=True)
    body = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return self.webhook_id

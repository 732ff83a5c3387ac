from django.db import models


class Person(models.Model):
    """The same model as durian's example ``people.Person``."""

    name = models.CharField(max_length=100)
    address = models.CharField(max_length=200, blank=True)
    secret = models.CharField(max_length=100, blank=True)

    class Meta:
        app_label = "peer"

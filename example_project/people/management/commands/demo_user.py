from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand

#: The webhook pages' permissions, given to the example's non-staff ``client`` user.
LISTENER_PERMISSIONS = ["view_listener", "add_listener", "change_listener", "delete_listener"]


class Command(BaseCommand):
    help = (
        "Create the example's users if they do not exist: the superuser demo/demo, and client/client, "
        "a plain signed-in user holding the listener permissions (sees only their own listeners)."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        if not User.objects.filter(username="demo").exists():
            User.objects.create_superuser("demo", "demo@example.com", "demo")
            self.stdout.write("created superuser demo / demo")
        if not User.objects.filter(username="client").exists():
            client = User.objects.create_user("client", "client@example.com", "client")
            client.user_permissions.set(
                Permission.objects.filter(content_type__app_label="durian", codename__in=LISTENER_PERMISSIONS)
            )
            self.stdout.write("created user client / client (listener permissions, not staff)")

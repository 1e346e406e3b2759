from .models import Role
from .permissions import capabilities_of


def workspace(request):
    membership = getattr(request, "membership", None)
    return {
        "tenant": getattr(request, "tenant", None),
        "membership": membership,
        "is_portal": bool(membership and membership.role == Role.PORTAL_USER),
        "caps": capabilities_of(membership),  # {% if "deductions.resolve" in caps %}
    }

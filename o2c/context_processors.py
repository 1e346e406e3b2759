from .models import Role


def workspace(request):
    membership = getattr(request, "membership", None)
    return {
        "tenant": getattr(request, "tenant", None),
        "membership": membership,
        "is_portal": bool(membership and membership.role == Role.PORTAL_USER),
    }

"""A clerk working through the day's suggestions: `python -m bench.independent.confirm --tenant SLUG --truth FILE`.

Each payment's top pending suggestion is confirmed through `cashapp.services.clerk.suggestion_accept`, the
service behind the clerk's "confirm" button, when it names the invoices the truth expects (a clerk checks
before confirming); the others are left alone. Prints: confirmed N, left M.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenant", required=True)
    ap.add_argument("--truth", required=True, help="truth.json of the day (bank reference -> expected invoices)")
    args = ap.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "o2c.settings")
    import django

    django.setup()
    from cashapp.models import Suggestion
    from cashapp.services.clerk import suggestion_accept
    from o2c.services.tenants import tenant_by_slug
    from o2c.tenancy import RequestOrigin, origin_context, tenant_context

    with open(args.truth) as f:
        truth = {p["bank_reference"]: {e["invoice_number"] for e in p["expected"]} for p in json.load(f)["payments"]}
    confirmed = left = 0
    tenant = tenant_by_slug(args.tenant)
    with origin_context(RequestOrigin(channel="web")), tenant_context(tenant):
        pending = list(Suggestion.objects.filter(status="pending", rank=1).select_related("payment").order_by("pk"))
        for s in pending:
            wanted = truth.get(s.payment.bank_reference)
            named = {a["invoice_number"] for a in s.allocations}
            if wanted and named == wanted:
                suggestion_accept(suggestion=s, actor=None)
                confirmed += 1
            else:
                left += 1
    print(f"confirmed {confirmed}, left {left}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

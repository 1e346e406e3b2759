"""Web pages of the AR workspace. Thin: access functions, selectors and services do the work."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from .access import access_customer_by_id, access_invoice_by_id, customer_scope, invoice_scope
from .selectors import aging, invoice_page


@login_required
def dashboard(request):
    return render(request, "o2c/dashboard.html", {"aging": aging(invoice_scope(request.membership))})


@login_required
def customer_list(request):
    customers = customer_scope(request.membership).order_by("name")[:50]
    return render(request, "o2c/customer_list.html", {"customers": customers})


@login_required
def customer_detail(request, customer_id):
    customer = access_customer_by_id(request.membership, customer_id)
    invoices = invoice_scope(request.membership).filter(customer=customer)
    return render(request, "o2c/customer_detail.html", {
        "customer": customer, "aging": aging(invoices), "page": invoice_page(invoices)})


@login_required
def invoice_list(request):
    page = invoice_page(invoice_scope(request.membership), cursor=request.GET.get("after"))
    return render(request, "o2c/invoice_list.html", {"page": page})


@login_required
def invoice_detail(request, invoice_id):
    return render(request, "o2c/invoice_detail.html",
                  {"invoice": access_invoice_by_id(request.membership, invoice_id)})


@login_required
def invoice_import(request):
    return render(request, "o2c/invoice_import.html", {})


@login_required
def user_list(request):
    return render(request, "o2c/user_list.html", {})


@login_required
def area_placeholder(request, area):
    return render(request, "o2c/area_placeholder.html", {"area": area})

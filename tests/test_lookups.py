"""`field__any=[...]`: the array form of `__in`, used for the thousands of ids of a matching run's chunk."""

from o2c.models import Customer, Invoice
from o2c.tenancy import tenant_context
from tests.factories import CustomerFactory, InvoiceFactory


def test_any_selects_the_same_rows_as_in(tenant):
    with tenant_context(tenant):
        customers = [CustomerFactory() for _ in range(4)]
        wanted = [customers[0].pk, customers[2].pk, 10**12]
        assert set(Customer.objects.filter(pk__any=wanted).values_list("pk", flat=True)) == set(
            Customer.objects.filter(pk__in=wanted).values_list("pk", flat=True)) == {customers[0].pk, customers[2].pk}
        assert not Customer.objects.filter(pk__any=[]).exists()


def test_any_on_a_foreign_key(tenant):
    with tenant_context(tenant):
        a, b = CustomerFactory(), CustomerFactory()
        invoice = InvoiceFactory(customer=a)
        InvoiceFactory(customer=b)
        assert list(Invoice.objects.filter(customer_id__any=[a.pk]).values_list("pk", flat=True)) == [invoice.pk]
        assert list(Invoice.objects.filter(customer__any=[a.pk]).values_list("pk", flat=True)) == [invoice.pk]

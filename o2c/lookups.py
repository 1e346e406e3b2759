"""`field__any=[...]`: membership in a list passed as one array parameter (`= ANY(%s)`).

`field__in=[...]` puts one placeholder per element in the SQL; for the thousands of ids of a matching
run's chunk, building and parsing that text cost more than the query. The array form is one parameter,
and the same prepared shape whatever the length. It goes as an array literal in text (`o2c.bulk.pg_array`):
handed a list, the ORM's client-side-binding cursor adapted it element by element. The fields it is
registered on hold integers, so the array is bigint[].
"""

from django.db import models
from django.db.models import Lookup

from .bulk import pg_array


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return "%s::bigint[]", [pg_array(value)]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


def register() -> None:
    for field in (models.IntegerField, models.ForeignKey):
        field.register_lookup(AnyOf)

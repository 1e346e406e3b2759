"""Cash application's answers to the payments app: a newly imported bank file starts a matching run."""

from django.dispatch import receiver

from payments.signals import bank_file_imported

from .services import matching_after_import


@receiver(bank_file_imported, dispatch_uid="cashapp-match-after-import")
def _match_after_import(sender, bank_file, **kwargs) -> None:
    matching_after_import(bank_file)

"""What the payments app tells the apps built on it (payments imports none of them).

`bank_file_imported` is sent inside the import's transaction once a file's payments and remittance advice
are stored (never for a duplicate file); receivers enqueue their work with `transaction.on_commit`.
"""

from django.dispatch import Signal

bank_file_imported = Signal()  # sender=BankFile, bank_file=the stored BankFile, match=False: store only

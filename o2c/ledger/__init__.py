"""The shared ledger's one door: every change to what a customer owes goes through here.

Posting cash, reversing it, applying a credit memo, writing off, issuing a re-bill: each operation changes
balances under the database's constraints and returns the `events` it caused (an invoice settled or
reopened, a deduction opened or cancelled, a payment fully applied). The ledger then hands the events to
the apps that subscribed to them (`events.dispatch`), inside the same transaction: the owning app writes
its own rows, audit and follow-up tasks, so a rolled-back posting leaves no deduction behind, and the
ledger never writes another app's table.
"""

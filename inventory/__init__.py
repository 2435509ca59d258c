"""Chip stock and consumables: receipts, reservations, consumption, spoilage, days of cover.

:mod:`inventory.ledger` gathers the books' functions; :mod:`inventory.orders` the expected
deliveries, :mod:`inventory.cover` days of cover and shortages, :mod:`inventory.check` the
reconciliation; every error is an :class:`inventory.errors.InventoryError`. May import
``line``.
"""

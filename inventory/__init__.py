"""Chip stock and consumables: receipts, reservations, consumption, spoilage, days of cover.

May import ``line``. Filled in by the chip stock issue.
"""

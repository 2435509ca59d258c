"""Personalisation devices: card face rendering, chip encoding over ISO 7816, QC read-back.

May import ``line``. Filled in by the devices issue.
"""

"""The SimPy model of the line, built from the same ``LineSpec`` as the controller.

May import ``line`` and ``inventory``. Filled in by the simulation issue.
"""

"""The edge of cardline: the command line, the demo and (later) the Prefect flows.

Wires settings, the clock, the database and devices into the domain. Prefect stays out
of the import path of commands that run no flow.
"""

"""Lambda handlers: each parses nothing itself and makes one call into steps.py.

Powertools gives them structured logs (with the execution and the data file as correlation keys),
CloudWatch metrics in EMF, and X-Ray tracing. Clients are built once per container, at import.
"""

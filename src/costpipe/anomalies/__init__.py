"""Spend anomalies: ``[[anomalies]]`` rules that find the group whose spend left its
expected band and name the users, keys and models that drove it."""

from costpipe.anomalies.evaluator import Anomalies

__all__ = ["Anomalies"]

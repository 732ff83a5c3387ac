"""durian: webhooks for Django.

Declare hooks (``durian.hook``), register them (``durian.registry.hooks``), let clients add
listeners with filters (``durian.match``); every matching change is POSTed to them, signed with
Standard Webhooks headers, after the transaction commits.
"""

__version__ = "0.1.0"

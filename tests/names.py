"""The suite's resolver (``DURIAN_RESOLVER``): no test makes a DNS query.

Tests name hosts under ``.test`` (RFC 2606). A name not listed here fails like a name that does
not resolve (yet); tests that need answers set their own ``FixedResolver``.
"""

from durian.testing import FixedResolver

NAMES = FixedResolver({})

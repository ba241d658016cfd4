"""The papers' tables and figures, and the commands that run them (``infotheory demo|reproduce``)."""

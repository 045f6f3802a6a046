"""Fuzzing memattr as an attacker would: generated (valid, almost valid and hostile) scenario files,
walk files, log lines and argument vectors for every command, run through the CLI in-process.

``make test`` runs a short, derandomised pass (about a minute); ``make fuzz`` a long random one
(``MEMATTR_FUZZ=long``; README says how to reproduce a failure from its seed or blob).
"""

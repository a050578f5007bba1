"""The commands' workflows, as core functions: each takes a request and returns what happened.

A workflow strings the core steps together (lock, hooks, renewal, compose, database, the
fast-path record) in the one order that keeps every promise certkit makes (nothing written
before every check has passed; the renewal kept when a later step fails).  It returns data
and never prints; certkit.cli parses options, calls one workflow and renders its result.
"""

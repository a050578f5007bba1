"""Judging what is deployed: certificate files and bundles, Notary's configs, the files compose
services read, live endpoints, and the set as a tree.
"""

"""The certificate set: keys, issuance, what is due (planning), validation and the renewal that builds,
validates and writes it.
"""

"""Files on disk: bounded reading of input, atomic writes with kept owners and modes, the ownership
checks, certkit's state folder (transactions, generations, the lock, the fast-path record) and the
ignore files.
"""

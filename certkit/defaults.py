"""The names and defaults several modules share, in one module that imports nothing.

The cron path (certkit.workflows.renew up to its fast path, certkit.store.fastpath, the lock, the
owed-deploy record) imports only the standard library, so these cannot live in the heavier modules
that also use them; every module reads them from here instead of keeping a copy of its own.
"""

from __future__ import annotations

# The profiles that ship with certkit (certkit/profiles/NAME.toml); the first is the default.
BUILTIN_PROFILES = ("notary",)

# certkit's state folder in the checkout (lock note, transactions, generations, records; the default
# CA store is inside), and the names of what it keeps there.
STATE_FOLDER = ".certkit"
LOCK_NOTE = "lock"  # the pid of the renewal holding the lock (certkit.store.lock)
NOTHING_DUE_RECORD = "nothing-due"  # what the cron fast path answers from (certkit.store.fastpath)
DEPLOY_OWED_RECORD = "deploy-owed"  # a deploy `renew --deploy` could not do (certkit.store.owed)
CA_STORE_RECORD = "ca-store"  # where `renew --ca-store DIR` put the CA keys, for every later command
CONTAINER_DIRS_RECORD = "container-dirs"  # the `--container-dir` answers (JSON: service -> folder)
TXN_FOLDER = "txn"  # a renewal's intent and commit records (certkit.store.transaction)

# Option defaults, in seconds where they are times.
KEEP = 3  # generations kept for `certkit rollback` (renew --keep)
HOOK_TIMEOUT = 600.0  # a hook holds the renewal lock, so it may not hang forever (--hook-timeout 10m)
ENGINE_TIMEOUT = 5.0  # each call to the Docker engine (--engine-timeout)
DEPLOY_TIMEOUT = 180.0  # the recreate, and every container running and serving (renew --deploy-timeout 3m)

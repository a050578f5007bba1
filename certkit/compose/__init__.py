"""Docker Compose: reading compose files and Dockerfiles as Compose and the builder do, planning read-
only mounts of the renewed folders, and writing the override or editing the files.
"""

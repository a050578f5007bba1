"""Getting the set to those who use it: postgres's data folder, the Docker and notary clients' trust,
and the cron/systemd schedule.
"""

"""The runner: jobs, run folders and the frames they hold (API documented below as it lands)."""

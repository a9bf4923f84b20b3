"""The daemon: scheduled sessions (APScheduler cron and interval triggers), a capacity
limit, automatic resume of crashed sessions, and its own state file.

``schedules.py`` parses ``schedules.toml`` (pure), ``capacity.py`` decides launch, queue or
skip (pure), ``state.py`` is the daemon's state file and the "never twice" rule,
``launcher.py`` starts detached session processes, ``crashwatch.py`` finds and resumes
sessions whose supervisor died, ``service.py`` is the loop that ties them together.
"""

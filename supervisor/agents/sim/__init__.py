"""The simulated agent: ``python -m supervisor.agents.sim`` speaks agent protocol v1.

A real, separate process that stands in for an LLM coding agent, so the supervisor runs
and is tested on a machine without one. Standard library only (it starts for every agent
of every phase), deterministic for a seed, paced in session time.

- ``settings``: ``MEGATEST_*`` variables and agent.toml -> ``SimSettings``
- ``agent``: ``SimAgent``, the behaviour stepped with a session time (pure but for files)
- ``work`` / ``tasks``: which unit of the project to write next, and the tool calls for it
- ``faults``: when faults happen and the memory a memory_pressure fault holds
- ``timeline``: phase time that stands still while quiesced or throttled
- ``runtime``: the process loop: stdin reader thread, stdout lines, signals
- ``workspace``: atomic writes into the project directory
- ``projects``: the templates of the three project types (RedQueue, MiniDB, ServiceMesh)
"""

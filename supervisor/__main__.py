from supervisor.control.cli import supervisor_main

supervisor_main()

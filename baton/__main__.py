from baton.console import main

main()

from pkd_toolkit.cli import main

main()

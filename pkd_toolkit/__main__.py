from pkd_toolkit.cli.app import main

main()

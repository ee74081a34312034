from alephnet.cli.app import main

main()

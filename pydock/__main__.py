from pydock.cli import main

main()

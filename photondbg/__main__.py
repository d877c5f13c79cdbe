from photondbg.cli import main

main()

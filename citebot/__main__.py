from citebot.cli import main

main()

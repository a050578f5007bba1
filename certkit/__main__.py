from certkit.entry import main

main()

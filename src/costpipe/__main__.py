from costpipe.cli import main

raise SystemExit(main())

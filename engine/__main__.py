from engine.node.cli import main

raise SystemExit(main())

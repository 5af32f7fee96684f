from hpbench.cli import main

raise SystemExit(main())

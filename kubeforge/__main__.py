from kubeforge.cli import main

raise SystemExit(main())

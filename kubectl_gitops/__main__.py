import sys

from kubectl_gitops.cli.main import main

sys.exit(main())

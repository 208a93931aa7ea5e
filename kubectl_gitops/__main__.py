"""`python -m kubectl_gitops`: the same CLI as `kubectl gitops`."""

import sys

from kubectl_gitops.cli.main import main

sys.exit(main())

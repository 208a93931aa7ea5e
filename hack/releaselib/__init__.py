"""The release build behind hack/release: krew archives holding a self-unpacking zipapp, and the krew manifest.

    config     what is built: platforms, Python versions, names and URLs
    lock       the pinned dependency set (hack/release.lock.json) and how it is refreshed from PyPI
    wheels     downloading the locked wheels (pip, hash-checked, cached) and unpacking them into trees
    bundle     the zipapp and the .tar.gz, byte for byte reproducible
    bootstrap  the zipapp's __main__.py: Python check, one-time unpacking, dispatch by program name
    krew       krew-manifest.yaml: rendering and validation against krew's rules
    cli        `hack/release` itself

docs/install.md ("How the release is built") explains the choices.
"""

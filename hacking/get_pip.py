"""Stand-in for ansible-test's pip bootstrap script (get-pip.py).

ansible-test downloads get-pip.py from ci-files.testing.ansible.com to put pip
into the virtual environments of its sanity tests; that host is unreachable
here, PyPI is not. This does what get-pip.py does - install pip (and the
packages named on the command line) into the running interpreter - from pip's
own wheel on PyPI, which `make sanity` downloads beside this script in
ansible-test's cache directory.
"""

from __future__ import annotations

import glob
import os
import sys


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    wheels = sorted(glob.glob(os.path.join(here, "pip-*-py3-none-any.whl")))
    if not wheels:
        print(f"no pip wheel in {here}", file=sys.stderr)
        return 1
    sys.path.insert(0, wheels[-1])
    from pip._internal.cli.main import main as pip_main

    # get-pip.py's own options, which pip install does not know
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    return pip_main(["install", *args])


if __name__ == "__main__":
    sys.exit(main())

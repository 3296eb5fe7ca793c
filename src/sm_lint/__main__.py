from __future__ import annotations

from sm_lint.cli import main

if __name__ == "__main__":
    main()

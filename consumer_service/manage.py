#!/usr/bin/env python
from servicekit.entrypoints import manage

if __name__ == "__main__":
    manage()

#!/usr/bin/env python
"""Django's command-line utility for the communication-service."""

from hdms_platform.manage import main

if __name__ == "__main__":
    main(__file__)

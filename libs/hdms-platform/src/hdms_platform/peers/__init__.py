"""Clients of the other services, one module per peer; the call itself (token, request id, timeout, failures) once, in http.py."""

from hdms_platform.startup import wsgi_application

application = wsgi_application()

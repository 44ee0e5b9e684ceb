from hdms_platform.web.startup import wsgi_application

application = wsgi_application()

from servicekit.entrypoints import wsgi_application

application = wsgi_application()

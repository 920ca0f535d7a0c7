"""HTTP inference service: ``create_app(ServiceConfig(...))`` (FastAPI; run by ``audio-artifacts serve``)."""

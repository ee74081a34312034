"""The CRN's HTTP API, one module per area; `app.create_app` assembles them."""

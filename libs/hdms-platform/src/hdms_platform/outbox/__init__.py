"""(Django app) The transactional outbox: rows written with the change they announce, the relay that publishes them in order, the event stream's subscribers."""
